//! The command line's side of the cluster calls (`ksec_seal::cluster`): the runtime they
//! run on (the commands are synchronous), and the hints that name ksec's flags.
use anyhow::{anyhow, Context, Result};
use ksec_seal::Error;
use std::future::Future;

/// Runs `f` to completion on a current-thread runtime.
pub fn block_on<T>(f: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(f)
}

/// A controller error, with the flags that are the way out.
pub fn controller_hint(e: Error) -> anyhow::Error {
    match &e {
        Error::ControllerServiceNotFound { .. } => anyhow!(
            "{e}; point --controller-name and --controller-namespace (SEALED_SECRETS_CONTROLLER_NAME, \
             SEALED_SECRETS_CONTROLLER_NAMESPACE) at the controller's Service, or pass --cert FILE"
        ),
        Error::ControllerUnavailable { .. } => anyhow!("{e}; or seal offline with --cert FILE"),
        _ => e.into(),
    }
}

/// An error reading the key Secrets for `ksec keys backup`, with the flag that helps.
/// `namespace` is the one given with -n.
pub fn backup_hint(e: Error, namespace: Option<&str>) -> anyhow::Error {
    if namespace.is_none() && matches!(e.kube(), Some(ksec_kube::Error::Forbidden { .. })) {
        return anyhow!(
            "{e}; to read the keys of one namespace only, pass -n NAMESPACE (the controller's, usually kube-system)"
        );
    }
    match &e {
        Error::NoKeySecrets {
            namespace: Some(_), ..
        } => anyhow!("{e}; leave out -n to look in every namespace"),
        _ => e.into(),
    }
}

/// An error of `ksec keys restore`, with the flag that helps.
pub fn restore_hint(e: Error) -> anyhow::Error {
    match &e {
        Error::RestoreStopped { error, .. }
            if matches!(**error, Error::NamespaceMissing { .. }) =>
        {
            anyhow!(
                "{:#} or restore into another with -n",
                anyhow::Error::from(e)
            )
        }
        _ => e.into(),
    }
}
