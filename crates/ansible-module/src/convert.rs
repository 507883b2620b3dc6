//! Ansible's option type conversions (`ansible.module_utils.common.validation.check_type_*`),
//! re-done here because Ansible applies none of them to binary modules. Getting them the same
//! matters: vars files say `yes`, `"false"` or `8` where a module wants a bool or a string.

use serde_json::{Map, Value};

use crate::spec::ArgType;

/// Why a value could not become the wanted type. Said as Ansible says it.
#[derive(Debug)]
pub(crate) struct ConversionError(pub String);

/// Converted value, and a warning when a value changed type silently in a way users should know.
pub(crate) fn convert(
    value: Value,
    wanted: ArgType,
    elements: Option<ArgType>,
) -> Result<(Value, Option<String>), ConversionError> {
    match wanted {
        ArgType::Raw => Ok((value, None)),
        ArgType::Str | ArgType::Path => to_str(value, wanted == ArgType::Path),
        ArgType::Bool => to_bool(&value).map(|b| (Value::Bool(b), None)),
        ArgType::Int => to_int(&value).map(|i| (Value::from(i), None)),
        ArgType::Float => to_float(&value).map(|f| (Value::from(f), None)),
        ArgType::Dict => to_dict(value).map(|d| (Value::Object(d), None)),
        ArgType::List => {
            let list = to_list(value)?;
            let Some(element_type) = elements else {
                return Ok((Value::Array(list), None));
            };
            let mut out = Vec::with_capacity(list.len());
            let mut warning = None;
            for (index, item) in list.into_iter().enumerate() {
                let (v, w) = convert(item, element_type, None).map_err(|e| {
                    ConversionError(format!("element {index} of the list: {}", e.0))
                })?;
                warning = warning.or(w);
                out.push(v);
            }
            Ok((Value::Array(out), warning))
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn to_str(value: Value, is_path: bool) -> Result<(Value, Option<String>), ConversionError> {
    match value {
        Value::String(s) if is_path => Ok((Value::String(expand_home(&s)), None)),
        Value::String(s) => Ok((Value::String(s), None)),
        Value::Bool(_) | Value::Number(_) => {
            let text = match &value {
                Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
                other => other.to_string(),
            };
            let warning = format!(
                "The value {text} (type {}) was converted to '{text}' (type string). If this does \
                 not look like what you expect, quote the entire value to ensure it does not change.",
                type_name(&value)
            );
            Ok((Value::String(text), Some(warning)))
        }
        other => Err(ConversionError(format!(
            "is of type {} and we were unable to convert to str",
            type_name(&other)
        ))),
    }
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix('~'), std::env::var("HOME")) {
        (Some(rest), Ok(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => path.to_string(),
    }
}

fn to_bool(value: &Value) -> Result<bool, ConversionError> {
    let fail = || {
        ConversionError(format!(
            "is of type {} and we were unable to convert to bool: The value '{}' is not a valid \
             boolean. Valid booleans include: 'yes', 'on', 'true', '1', 't', 'y', 'no', 'off', \
             'false', '0', 'f', 'n'",
            type_name(value),
            display(value)
        ))
    };
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Ok(true),
            Some(0.0) => Ok(false),
            _ => Err(fail()),
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" => Ok(true),
            "n" | "no" | "off" | "0" | "false" | "f" => Ok(false),
            _ => Err(fail()),
        },
        _ => Err(fail()),
    }
}

fn to_int(value: &Value) -> Result<i64, ConversionError> {
    let fail = || {
        ConversionError(format!(
            "is of type {} and we were unable to convert to int: '{}' cannot be converted to an int",
            type_name(value),
            display(value)
        ))
    };
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(fail),
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| fail()),
        _ => Err(fail()),
    }
}

fn to_float(value: &Value) -> Result<f64, ConversionError> {
    let fail = || {
        ConversionError(format!(
            "is of type {} and we were unable to convert to float: '{}' cannot be converted to a float",
            type_name(value),
            display(value)
        ))
    };
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(fail),
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| fail()),
        _ => Err(fail()),
    }
}

fn to_list(value: Value) -> Result<Vec<Value>, ConversionError> {
    match value {
        Value::Array(items) => Ok(items),
        Value::String(s) => Ok(s
            .split(',')
            .map(|part| Value::String(part.to_string()))
            .collect()),
        Value::Number(_) | Value::Bool(_) => Ok(vec![Value::String(display(&value))]),
        other => Err(ConversionError(format!(
            "is of type {} and we were unable to convert to list",
            type_name(&other)
        ))),
    }
}

fn to_dict(value: Value) -> Result<Map<String, Value>, ConversionError> {
    match value {
        Value::Object(map) => Ok(map),
        Value::String(s) if s.trim_start().starts_with('{') => {
            match serde_json::from_str::<Value>(&s) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(ConversionError(
                    "is a string that looks like JSON but is not a JSON object".into(),
                )),
            }
        }
        Value::String(s) => key_value_pairs(&s),
        other => Err(ConversionError(format!(
            "is of type {} and we were unable to convert to dict",
            type_name(&other)
        ))),
    }
}

/// `"a=1 b=2"` or `"a=1, b=2"`, as Ansible's `check_type_dict` accepts.
fn key_value_pairs(text: &str) -> Result<Map<String, Value>, ConversionError> {
    let mut map = Map::new();
    for pair in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(ConversionError(format!(
                "is of type str and we were unable to convert to dict: '{pair}' is not key=value"
            )));
        };
        map.insert(key.to_string(), Value::String(value.to_string()));
    }
    Ok(map)
}

fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conv(v: Value, t: ArgType) -> Result<Value, ConversionError> {
        convert(v, t, None).map(|(v, _)| v)
    }

    #[test]
    fn booleans_follow_ansible() {
        for truthy in [
            json!("yes"),
            json!("True"),
            json!("on"),
            json!(1),
            json!("1"),
            json!("y"),
        ] {
            assert_eq!(conv(truthy, ArgType::Bool).unwrap(), json!(true));
        }
        for falsy in [
            json!("no"),
            json!("false"),
            json!("OFF"),
            json!(0),
            json!("0"),
            json!("f"),
        ] {
            assert_eq!(conv(falsy, ArgType::Bool).unwrap(), json!(false));
        }
        assert!(conv(json!("maybe"), ArgType::Bool).is_err());
        assert!(conv(json!(2), ArgType::Bool).is_err());
        assert!(conv(json!([]), ArgType::Bool).is_err());
    }

    #[test]
    fn ints_accept_numeric_strings_and_whole_floats() {
        assert_eq!(conv(json!("42"), ArgType::Int).unwrap(), json!(42));
        assert_eq!(conv(json!(8.0), ArgType::Int).unwrap(), json!(8));
        assert!(conv(json!(8.5), ArgType::Int).is_err());
        assert!(conv(json!("eight"), ArgType::Int).is_err());
    }

    #[test]
    fn strings_accept_scalars_with_a_warning() {
        let (v, w) = convert(json!(8), ArgType::Str, None).unwrap();
        assert_eq!(v, json!("8"));
        assert!(w.unwrap().contains("converted"));
        let (v, _) = convert(json!(true), ArgType::Str, None).unwrap();
        assert_eq!(v, json!("True"));
        assert!(conv(json!({"a": 1}), ArgType::Str).is_err());
    }

    #[test]
    fn lists_split_strings_and_convert_elements() {
        assert_eq!(
            conv(json!("a,b"), ArgType::List).unwrap(),
            json!(["a", "b"])
        );
        let (v, _) = convert(json!(["1", 2]), ArgType::List, Some(ArgType::Int)).unwrap();
        assert_eq!(v, json!([1, 2]));
        let err = convert(json!(["x"]), ArgType::List, Some(ArgType::Int)).unwrap_err();
        assert!(err.0.contains("element 0"));
    }

    #[test]
    fn dicts_accept_json_and_key_value_strings() {
        assert_eq!(
            conv(json!("{\"a\": 1}"), ArgType::Dict).unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            conv(json!("a=1 b=2"), ArgType::Dict).unwrap(),
            json!({"a": "1", "b": "2"})
        );
        assert!(conv(json!("nonsense"), ArgType::Dict).is_err());
    }

    #[test]
    fn paths_expand_home() {
        let home = std::env::var("HOME").unwrap_or_default();
        assert_eq!(
            conv(json!("~/x"), ArgType::Path).unwrap(),
            json!(format!("{home}/x"))
        );
        assert_eq!(conv(json!("/a~b"), ArgType::Path).unwrap(), json!("/a~b"));
    }
}
