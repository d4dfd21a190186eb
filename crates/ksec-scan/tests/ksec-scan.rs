//! Integration tests of ksec-scan.
