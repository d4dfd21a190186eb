mod ksec_keys {}
