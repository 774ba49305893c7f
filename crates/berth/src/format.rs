//! Output helpers: docker's `--format` (Go templates, through `berth-template`),
//! aligned tables, and docker's human durations and sizes.

use anyhow::Result;
use serde_json::Value;

/// Renders a docker `--format` template over a JSON object: Go's `text/template`
/// with docker's functions (`berth-template`). `\t` and `\n` in the text are
/// expanded as docker does.
pub fn render(template: &str, data: &Value) -> Result<String> {
    Ok(parse(template)?.execute(data)?)
}

/// One value printed with `--format`: `json` is the value as compact JSON (docker's
/// `--format json` of `version`, `info`), anything else a template.
pub fn render_value(format: &str, data: &Value) -> Result<String> {
    match format {
        "json" => Ok(serde_json::to_string(data)?),
        template => render(template, data),
    }
}

/// A `--format` template parsed once, to run over every row: its syntax errors
/// are reported even when there are no rows, as docker reports them.
fn parse(template: &str) -> Result<berth_template::Template> {
    let src = berth_template::expand_docker_escapes(template);
    Ok(berth_template::Template::parse(&src)?)
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(plain).collect::<Vec<_>>().join(" ")),
        Value::Object(_) => {
            let pairs: Vec<String> = v
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, x)| format!("{k}:{}", plain(x)))
                .collect();
            format!("map[{}]", pairs.join(" "))
        }
        other => other.to_string(),
    }
}

/// Prints rows with `--format`, honouring the `table` prefix (header from field
/// names), or as an aligned table with the given headers and fields.
pub fn print_rows(format: Option<&str>, headers: &[(&str, &str)], rows: &[Value]) -> Result<()> {
    match format {
        Some("json") => {
            for r in rows {
                println!("{}", serde_json::to_string(r)?);
            }
        }
        // `table` alone is the default table, as docker's.
        Some(f) if f.trim() == "table" => return print_rows(None, headers, rows),
        Some(f) if f.starts_with("table") => {
            let tpl = f.trim_start_matches("table").trim_start();
            let template = parse(tpl)?;
            let mut lines = vec![header_for(tpl, headers)];
            for r in rows {
                lines.push(
                    template
                        .execute(r)?
                        .split('\t')
                        .map(str::to_string)
                        .collect(),
                );
            }
            print_aligned(&lines);
        }
        Some(f) => {
            let template = parse(f)?;
            for r in rows {
                println!("{}", template.execute(r)?);
            }
        }
        None => {
            let mut lines = vec![headers
                .iter()
                .map(|(h, _)| h.to_string())
                .collect::<Vec<_>>()];
            for r in rows {
                lines.push(
                    headers
                        .iter()
                        .map(|(_, f)| plain(r.get(*f).unwrap_or(&Value::Null)))
                        .collect(),
                );
            }
            print_aligned(&lines);
        }
    }
    Ok(())
}

fn header_for(tpl: &str, headers: &[(&str, &str)]) -> Vec<String> {
    tpl.replace("\\t", "\t")
        .split('\t')
        .map(|cell| {
            let field = cell
                .trim()
                .trim_start_matches("{{")
                .trim_end_matches("}}")
                .trim()
                .trim_start_matches('.');
            headers
                .iter()
                .find(|(_, f)| *f == field)
                .map(|(h, _)| h.to_string())
                .unwrap_or_else(|| field.to_uppercase())
        })
        .collect()
}

fn print_aligned(lines: &[Vec<String>]) {
    print!("{}", aligned(lines));
}

/// Cells padded as docker's tabwriter pads them (`tabwriter.NewWriter(out, 10, 1, 3,
/// ' ', 0)`): a column is as wide as its widest cell plus 3 spaces, and at least 10;
/// the last cell of a line is not a column and is not padded.
fn aligned(lines: &[Vec<String>]) -> String {
    const MIN_WIDTH: usize = 10;
    const PADDING: usize = 3;
    let cols = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            lines
                .iter()
                .filter(|l| c + 1 < l.len())
                .map(|l| l[c].chars().count() + PADDING)
                .fold(MIN_WIDTH, usize::max)
        })
        .collect();
    let mut out = String::new();
    for l in lines {
        for (c, cell) in l.iter().enumerate() {
            if c + 1 == l.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        out.push('\n');
    }
    out
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        172_800..=1_209_599 => format!("{} days", s / 86_400),
        1_209_600..=5_183_999 => format!("{} weeks", s / 604_800),
        5_184_000..=63_071_999 => format!("{} months", s / 2_592_000),
        _ => format!("{} years", s / 31_536_000),
    }
}

/// Sizes as `docker images` prints them (`units.HumanSizeWithPrecision(n, 3)`).
pub fn human_size(bytes: u64) -> String {
    human_size_precision(bytes, 3)
}

/// Decimal units with `digits` significant digits and no trailing zeros, as Go's
/// `%.*g` in docker's `units.HumanSizeWithPrecision`.
pub fn human_size_precision(bytes: u64, digits: i32) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    let whole_digits = if v < 1.0 {
        1
    } else {
        v.log10().floor() as i32 + 1
    };
    let decimals = (digits - whole_digits).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", units[i])
}

pub fn seconds_since(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_templates() {
        let v = json!({"ID": "abc", "State": {"Running": true}, "Names": "n"});
        assert_eq!(render("{{.ID}}\\t{{ .Names }}", &v).unwrap(), "abc\tn");
        assert_eq!(render("{{.State.Running}}", &v).unwrap(), "true");
        assert_eq!(
            render("{{json .State}}", &v).unwrap(),
            r#"{"Running":true}"#
        );
        assert!(render("{{.Nope}}", &v).is_err());
        assert!(render("{{.ID", &v).is_err());
    }

    #[test]
    fn a_bad_format_is_refused_even_with_no_rows() {
        let headers = [("CONTAINER ID", "ID")];
        for bad in ["{{.ID", "table {{.ID", "{{if .ID}}"] {
            assert!(print_rows(Some(bad), &headers, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn tables_are_padded_as_docker_pads_them() {
        let lines: Vec<Vec<String>> = [
            vec!["REPOSITORY", "TAG", "IMAGE ID", "SIZE"],
            vec!["busybox", "latest", "0123456789ab", "4.26MB"],
            vec!["a-much-longer-name/x", "1", "ba9876543210", "1B"],
        ]
        .iter()
        .map(|l| l.iter().map(|s| s.to_string()).collect())
        .collect();
        // TAG's widest cell is 6 wide: 9 with padding, so the minimum of 10 wins.
        assert_eq!(
            aligned(&lines),
            "REPOSITORY             TAG       IMAGE ID       SIZE\n\
             busybox                latest    0123456789ab   4.26MB\n\
             a-much-longer-name/x   1         ba9876543210   1B\n"
        );
        // An empty last cell leaves the padding before it, as docker's output does.
        let ports = vec![
            vec!["NAMES".to_string(), "PORTS".to_string()],
            vec!["web".to_string(), String::new()],
        ];
        assert_eq!(aligned(&ports), "NAMES     PORTS\nweb       \n");
    }

    #[test]
    fn human_units() {
        assert_eq!(human_duration(3), "3 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(7200), "2 hours");
        assert_eq!(human_size(4_260_000), "4.26MB");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(123_456_789), "123MB");
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(5), "5B");
        assert_eq!(human_size(2_000_000), "2MB");
        assert_eq!(human_size_precision(123_456_789, 4), "123.5MB");
        assert_eq!(human_size_precision(7_780, 4), "7.78kB");
    }
}
