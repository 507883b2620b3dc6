//! Everything logged at every level while authenticating, calling and failing holds no secret.
//! Needs `scripts/testbed up openstack; eval "$(scripts/testbed env)"`.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use openstack::cinder::volumes;
use openstack::config::Credentials;
use openstack::neutron::networks;
use openstack::{Client, Error};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread, so the subscriber set for this thread sees reqwest's and hyper's tasks too.
#[tokio::test(flavor = "current_thread")]
async fn trace_logs_hold_no_password_or_secret() {
    let bed = support::testbed();
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let config = support::config(&bed.cloud);
    let Credentials::Password { password, .. } = &config.credentials else {
        panic!("the test bed's {} cloud should use a password", bed.cloud);
    };
    let password = password.expose().to_owned();
    let client = Client::connect(config.clone()).await.expect("connect");
    volumes::list(&client, &volumes::ListOpts::default())
        .await
        .expect("list");
    client.revoke_token().await.expect("revoke");
    // Neutron has not seen the revoked token yet, so it refuses it; then 404 after re-authentication.
    let err = networks::get(&client, "osc-test-no-such-network")
        .await
        .expect_err("404");
    assert!(err.is_not_found(), "{err}");
    assert_eq!(client.authentication_count(), 2);

    let appcred = support::config(&bed.appcred_cloud);
    let Credentials::ApplicationCredential { secret, .. } = &appcred.credentials else {
        panic!(
            "the test bed's {} cloud should use an application credential",
            bed.appcred_cloud
        );
    };
    let secret = secret.expose().to_owned();
    Client::connect(appcred).await.expect("appcred connect");

    let mut wrong = config;
    if let Credentials::Password { password, .. } = &mut wrong.credentials {
        *password = "osc-test-wrong-password".into();
    }
    let err = Client::connect(wrong).await.expect_err("refused");
    assert!(matches!(err, Error::Authentication { .. }), "{err:?}");
    assert!(!err.to_string().contains("osc-test-wrong-password"));
    assert!(!format!("{err:?}").contains("osc-test-wrong-password"));

    let logs = String::from_utf8_lossy(&captured.0.lock().expect("buffer")).into_owned();
    assert!(
        logs.contains("re-authenticating") || logs.contains("authenticating again"),
        "the logs were captured: {logs}"
    );
    for (what, value) in [
        ("password", password.as_str()),
        ("application credential secret", secret.as_str()),
        ("wrong password", "osc-test-wrong-password"),
    ] {
        assert!(!logs.contains(value), "the {what} appears in the logs");
    }
    assert!(
        !logs.to_ascii_lowercase().contains("x-auth-token: g"),
        "a token header value appears in the logs"
    );
}
