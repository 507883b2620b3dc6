//! The JSON decoders fed arbitrary and hostile answers: an error or a value, never a panic, and
//! error messages that stay short whatever the service sends.

use openstack::auth::parse_token_response;
use openstack::{ApiError, Secret, ServiceType};
use proptest::prelude::*;
use serde_json::{Value, json};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z_ ]{0,12}".prop_map(Value::from),
        prop::sample::select(&["2026-11-22T05:00:00.000000Z", "9999-99-99T", "", "Z"][..])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::vec(
                (
                    prop::sample::select(
                        &[
                            "token",
                            "catalog",
                            "endpoints",
                            "type",
                            "url",
                            "interface",
                            "region_id",
                            "project",
                            "id",
                            "expires_at",
                            "error",
                            "message",
                            "itemNotFound",
                            "NeutronError",
                            "detail",
                            "errors",
                            "code",
                        ][..]
                    ),
                    inner
                ),
                0..5
            )
            .prop_map(|pairs| Value::Object(
                pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

fn api_error(body: &[u8]) -> ApiError {
    ApiError::from_response(
        ServiceType::BlockStorage,
        "GET",
        "http://127.0.0.1:8776/v3/p/volumes",
        500,
        None,
        body,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_token_response(Secret::new("t"), &bytes);
        let _ = api_error(&bytes).to_string();
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        let bytes = value.to_string().into_bytes();
        let _ = parse_token_response(Secret::new("t"), &bytes);
        let wrapped = json!({"token": value}).to_string().into_bytes();
        if let Ok(token) = parse_token_response(Secret::new("t"), &wrapped) {
            for service in [ServiceType::Compute, ServiceType::BlockStorage, ServiceType::Network] {
                let _ = token.catalog.endpoint(service, Default::default(), None, token.project_id.as_deref());
            }
        }
        let _ = api_error(&bytes).to_string();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A service's error text of any length is cut in the message.
    #[test]
    fn error_messages_stay_short(size in 0usize..2_000_000, shape in 0usize..4) {
        let long = "x".repeat(size);
        let body = match shape {
            0 => json!({"itemNotFound": {"message": long, "code": 404}}).to_string(),
            1 => json!({"NeutronError": {"type": long, "message": long, "detail": long}}).to_string(),
            2 => json!({"error": {"message": long, "title": long}}).to_string(),
            _ => long,
        };
        let message = api_error(body.as_bytes()).to_string();
        prop_assert!(message.len() < 4096, "{} bytes", message.len());
    }
}
