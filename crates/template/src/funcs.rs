//! The functions docker's CLI adds to Go's builtins (`json`, `split`, `join`,
//! `title`, `lower`, `upper`, `pad`, `truncate`), with the argument types docker's
//! Go signatures demand: a non-string where docker takes a `string` is an error
//! naming the function, as Go's `wrong type for value` is. And `index` as it
//! behaves on docker's typed maps.

use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value, ValueFunc};

use crate::convert::to_json;

type FuncResult = Result<Value, TemplateError>;

/// docker's function map, to add to the engine's builtins.
pub fn docker_funcs() -> FuncMap {
    let mut m = FuncMap::new();
    add(&mut m, "json", json);
    add(&mut m, "split", split);
    add(&mut m, "join", join);
    add(&mut m, "title", |a| map_str("title", a, title_case));
    add(&mut m, "lower", |a| {
        map_str("lower", a, |s| s.to_lowercase())
    });
    add(&mut m, "upper", |a| {
        map_str("upper", a, |s| s.to_uppercase())
    });
    add(&mut m, "pad", pad);
    add(&mut m, "truncate", truncate);
    add(&mut m, "index", index);
    m
}

fn add(m: &mut FuncMap, name: &str, f: fn(&[Value]) -> FuncResult) {
    let f: ValueFunc = Arc::new(f);
    m.insert(name.to_string(), f);
}

fn arity(name: &str, args: &[Value], want: usize) -> Result<(), TemplateError> {
    if args.len() == want {
        return Ok(());
    }
    Err(TemplateError::ArgCount {
        name: name.to_string(),
        expected: want,
        got: args.len(),
    })
}

fn string_arg<'a>(name: &str, v: &'a Value) -> Result<&'a str, TemplateError> {
    v.as_str().ok_or_else(|| {
        TemplateError::Exec(format!(
            "{name}: wrong type for value; expected string; got {}",
            v.type_name()
        ))
    })
}

fn int_arg(name: &str, v: &Value) -> Result<i64, TemplateError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Uint(u) => i64::try_from(*u).map_err(|_| bad_int(name, v)),
        _ => Err(bad_int(name, v)),
    }
}

fn bad_int(name: &str, v: &Value) -> TemplateError {
    TemplateError::Exec(format!(
        "{name}: wrong type for value; expected int; got {}",
        v.type_name()
    ))
}

fn map_str(name: &str, args: &[Value], f: fn(&str) -> String) -> FuncResult {
    arity(name, args, 1)?;
    Ok(Value::from(f(string_arg(name, &args[0])?)))
}

/// docker's `json`: the value as compact JSON without HTML escaping (serde_json
/// never escapes `<`, `>`, `&`, which is what docker's `SetEscapeHTML(false)` asks).
fn json(args: &[Value]) -> FuncResult {
    arity("json", args, 1)?;
    serde_json::to_string(&to_json(&args[0]))
        .map(Value::from)
        .map_err(|e| TemplateError::Exec(format!("json: {e}")))
}

/// Go's `strings.Split`: an empty separator splits into characters, an empty
/// string gives one empty element.
fn split(args: &[Value]) -> FuncResult {
    arity("split", args, 2)?;
    let s = string_arg("split", &args[0])?;
    let sep = string_arg("split", &args[1])?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::from(c.to_string())).collect()
    } else {
        s.split(sep).map(Value::from).collect()
    };
    Ok(Value::from(parts))
}

/// Go's `strings.Join` over a list of strings. docker's typed lists are all
/// `[]string`; a JSON list may hold other scalars, printed as Go prints them.
fn join(args: &[Value]) -> FuncResult {
    arity("join", args, 2)?;
    let sep = string_arg("join", &args[1])?;
    let items: Vec<String> = match &args[0] {
        Value::List(items) => items.iter().map(|v| v.to_string()).collect(),
        // A nil `[]string` (an image without Cmd) joins to nothing in docker.
        Value::Nil => Vec::new(),
        other => {
            return Err(TemplateError::Exec(format!(
                "join: wrong type for value; expected []string; got {}",
                other.type_name()
            )))
        }
    };
    Ok(Value::from(items.join(sep)))
}

/// Go's deprecated `strings.Title`, which docker still uses: the first letter of
/// each word in upper case, a word starting after a space or ASCII punctuation.
fn title_case(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let starts_word = prev.is_whitespace()
                || (prev.is_ascii() && !prev.is_ascii_alphanumeric() && prev != '_');
            prev = c;
            if starts_word {
                c.to_uppercase().collect::<String>()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// docker's `pad s before after`: spaces on each side.
fn pad(args: &[Value]) -> FuncResult {
    arity("pad", args, 3)?;
    let s = string_arg("pad", &args[0])?;
    let before = usize::try_from(int_arg("pad", &args[1])?).unwrap_or(0);
    let after = usize::try_from(int_arg("pad", &args[2])?).unwrap_or(0);
    Ok(Value::from(format!(
        "{}{s}{}",
        " ".repeat(before),
        " ".repeat(after)
    )))
}

/// docker's `truncate s n`: at most `n` characters. docker cuts bytes, which can
/// split a UTF-8 character; characters are what a user counts.
fn truncate(args: &[Value]) -> FuncResult {
    arity("truncate", args, 2)?;
    let s = string_arg("truncate", &args[0])?;
    let n = usize::try_from(int_arg("truncate", &args[1])?).unwrap_or(0);
    Ok(Value::from(s.chars().take(n).collect::<String>()))
}

/// Go's `index`, as it behaves on docker's typed data: a key missing from a
/// `map[string]string` (labels, options: in JSON a map whose values are all
/// strings, or `null` for a nil one) gives the zero value `""`, which scripts
/// test for, where an untyped JSON map would give `<no value>` or, for `null`,
/// an error. Anything else is the engine's `index`.
fn index(args: &[Value]) -> FuncResult {
    let Some((first, keys)) = args.split_first() else {
        return Err(TemplateError::ArgCount {
            name: "index".into(),
            expected: 1,
            got: 0,
        });
    };
    let mut val = first.clone();
    for key in keys {
        val = match (&val, key) {
            (Value::Nil, Value::String(_)) => Value::from(""),
            (Value::Map(m), Value::String(k))
                if !m.contains_key(k.as_ref())
                    && m.values().all(|v| matches!(v, Value::String(_))) =>
            {
                Value::from("")
            }
            _ => val.index(key)?,
        };
    }
    Ok(val)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_follows_go_word_boundaries() {
        assert_eq!(title_case("hello wORLD"), "Hello WORLD");
        assert_eq!(title_case("a-b_c.d"), "A-B_c.D");
        assert_eq!(title_case(""), "");
    }
}
