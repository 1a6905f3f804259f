//! The input codec of the server functions a page also offers as a plain HTML form.

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A POST whose body is a JSON object, as the page's script and REST clients send it, or
/// `application/x-www-form-urlencoded`, as a browser sends a form before the WebAssembly has
/// loaded (or with JavaScript off). Both reach the same function with the same arguments.
pub type JsonOrForm = Post<JsonOrFormEncoding>;

/// Sends JSON; reads a body that opens with `{` as JSON and any other as a form (a form's
/// field names never start with a raw `{`: browsers percent-encode it).
pub struct JsonOrFormEncoding;

impl ContentType for JsonOrFormEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonOrFormEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonOrFormEncoding {
    type Error = serde_json::Error;

    fn encode(value: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(value).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonOrFormEncoding {
    type Error = String;

    fn decode(body: Bytes) -> Result<T, Self::Error> {
        let is_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if is_json {
            serde_json::from_slice(&body).map_err(|e| e.to_string())
        } else {
            from_form(&body)
        }
    }
}

#[cfg(feature = "ssr")]
fn from_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())
}

/// Only the server reads a request's body.
#[cfg(not(feature = "ssr"))]
fn from_form<T: DeserializeOwned>(_body: &[u8]) -> Result<T, String> {
    Err("a form body is read on the server".to_owned())
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::model::Environment;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct KeyFields {
        api_key: String,
        label: Option<String>,
        environment: Option<Environment>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct NoFields {}

    fn decode<T: DeserializeOwned>(body: &'static str) -> Result<T, String> {
        <JsonOrFormEncoding as Decodes<T>>::decode(Bytes::from_static(body.as_bytes()))
    }

    #[test]
    fn a_json_object_and_a_form_give_the_same_arguments() {
        let expected = KeyFields {
            api_key: "ab+c d".into(),
            label: Some("main".into()),
            environment: Some(Environment::Testnet),
        };
        let json = r#" {"api_key":"ab+c d","label":"main","environment":"testnet"}"#;
        assert_eq!(decode::<KeyFields>(json), Ok(expected));
        let form = "api_key=ab%2Bc+d&label=main&environment=testnet";
        let expected = decode::<KeyFields>(json).unwrap();
        assert_eq!(decode::<KeyFields>(form), Ok(expected));
    }

    #[test]
    fn a_form_may_leave_optional_fields_out_and_a_button_alone_sends_nothing() {
        let fields = decode::<KeyFields>("api_key=k").unwrap();
        assert_eq!((fields.label, fields.environment), (None, None));
        assert_eq!(decode::<NoFields>(""), Ok(NoFields {}));
        assert_eq!(decode::<NoFields>("{}"), Ok(NoFields {}));
    }

    #[test]
    fn a_body_that_is_neither_is_refused() {
        assert!(decode::<KeyFields>("{not json").is_err());
        assert!(decode::<KeyFields>("label=only").is_err());
        assert!(decode::<KeyFields>("api_key=k&environment=moon").is_err());
    }
}
