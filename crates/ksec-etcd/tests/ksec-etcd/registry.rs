//! Where kube-apiserver keeps each resource in etcd (`registry::resource_prefix`):
//! built-in resources without their group, with the apiserver's historical prefixes;
//! custom and extension resources under `GROUP/RESOURCE`.
use ksec_etcd::registry::resource_prefix;

/// Each resource is stored under its prefix, with `--etcd-prefix /registry`.
fn stored_under(cases: &[(&str, &str)]) {
    for (resource, want) in cases {
        assert_eq!(resource_prefix("/registry", resource), *want, "{resource}");
    }
}

#[test]
fn built_in_resources_are_stored_without_their_group() {
    stored_under(&[
        ("secrets", "/registry/secrets/"),
        ("configmaps", "/registry/configmaps/"),
        ("deployments.apps", "/registry/deployments/"),
        ("deployments.extensions", "/registry/deployments/"),
        ("cronjobs.batch", "/registry/cronjobs/"),
        ("roles.rbac.authorization.k8s.io", "/registry/roles/"),
        ("leases.coordination.k8s.io", "/registry/leases/"),
        ("events.events.k8s.io", "/registry/events/"),
        ("Secrets", "/registry/secrets/"),
    ]);
}

#[test]
fn historical_prefixes_follow_kube_apiserver() {
    stored_under(&[
        ("services", "/registry/services/specs/"),
        ("endpoints", "/registry/services/endpoints/"),
        ("nodes", "/registry/minions/"),
        ("replicationcontrollers", "/registry/controllers/"),
        (
            "replicationcontrollers.extensions",
            "/registry/controllers/",
        ),
        ("ingresses.networking.k8s.io", "/registry/ingress/"),
        ("ingresses.extensions", "/registry/ingress/"),
        ("podsecuritypolicies.policy", "/registry/podsecuritypolicy/"),
    ]);
}

#[test]
fn custom_and_extension_resources_are_stored_under_their_group() {
    stored_under(&[
        ("widgets.example.com", "/registry/example.com/widgets/"),
        (
            "sealedsecrets.bitnami.com",
            "/registry/bitnami.com/sealedsecrets/",
        ),
        // CRDs in a *.k8s.io group that kube-apiserver does not serve itself.
        (
            "gateways.gateway.networking.k8s.io",
            "/registry/gateway.networking.k8s.io/gateways/",
        ),
        (
            "volumesnapshots.snapshot.storage.k8s.io",
            "/registry/snapshot.storage.k8s.io/volumesnapshots/",
        ),
        (
            "customresourcedefinitions.apiextensions.k8s.io",
            "/registry/apiextensions.k8s.io/customresourcedefinitions/",
        ),
        (
            "apiservices.apiregistration.k8s.io",
            "/registry/apiregistration.k8s.io/apiservices/",
        ),
    ]);
}

#[test]
fn the_etcd_prefix_is_taken_with_or_without_a_trailing_slash() {
    assert_eq!(
        resource_prefix("/registry/", "widgets.example.com"),
        "/registry/example.com/widgets/"
    );
    assert_eq!(resource_prefix("/kube/", "secrets"), "/kube/secrets/");
    assert_eq!(resource_prefix("/k", "deployments.apps"), "/k/deployments/");
}
