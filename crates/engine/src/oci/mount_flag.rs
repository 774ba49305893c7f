//! docker's `--mount` flag: comma-separated `key=value` fields (quoted as CSV, so
//! `"volume-opt=o=a,b"` keeps its comma), `type=bind|volume|tmpfs`. Every key docker
//! knows that berth cannot honour, and every key docker does not know, is an error.

use crate::model::{BindMount, TmpfsMount};
use crate::oci::mounts::{check_container_path, check_volume_name, PROPAGATIONS};
use crate::volumes::VolumeRequest;

/// One `--mount`, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum MountFlag {
    Bind(BindMount),
    /// A volume, and the options and labels it is made with on first use.
    Volume(BindMount, VolumeRequest),
    Tmpfs(TmpfsMount),
}

#[derive(Debug, Default)]
struct Fields {
    kind: Option<String>,
    source: Option<String>,
    target: Option<String>,
    read_only: bool,
    propagation: Option<String>,
    no_copy: bool,
    request: VolumeRequest,
    tmpfs_size: Option<u64>,
    tmpfs_mode: Option<u32>,
    /// The keys given, to refuse one that does not belong to the type.
    keys: Vec<String>,
}

pub fn parse_mount(arg: &str) -> Result<MountFlag, String> {
    let bad = |why: String| format!("invalid --mount {arg:?}: {why}");
    let mut f = Fields::default();
    for field in split_csv(arg).map_err(&bad)? {
        read_field(&mut f, &field).map_err(&bad)?;
    }
    let kind = f.kind.clone().unwrap_or_else(|| "volume".into());
    let allowed: &[&str] = match kind.as_str() {
        "bind" => &["bind-propagation"],
        "volume" => &[
            "volume-opt",
            "volume-label",
            "volume-nocopy",
            "volume-driver",
        ],
        "tmpfs" => &["tmpfs-size", "tmpfs-mode"],
        other => {
            return Err(bad(format!(
                "type {other:?} is not supported (use bind, volume or tmpfs)"
            )))
        }
    };
    let common = [
        "type",
        "source",
        "src",
        "target",
        "destination",
        "dst",
        "readonly",
        "ro",
        "consistency",
    ];
    if let Some(k) = f
        .keys
        .iter()
        .find(|k| !common.contains(&k.as_str()) && !allowed.contains(&k.as_str()))
    {
        return Err(bad(format!("{k} does not go with type={kind}")));
    }
    let target = f
        .target
        .clone()
        .ok_or_else(|| bad("target= is required".into()))?;
    check_container_path(&target).map_err(&bad)?;
    let bind = |source: String, volume: bool| BindMount {
        anonymous: volume && source.is_empty(),
        source,
        destination: target.clone(),
        read_only: f.read_only,
        volume,
        propagation: f.propagation.clone(),
        no_copy: f.no_copy,
        origin: crate::model::MountOrigin::Mount,
    };
    match kind.as_str() {
        "bind" => {
            let src = f
                .source
                .clone()
                .ok_or_else(|| bad("source= is required for type=bind".into()))?;
            if !src.starts_with('/') {
                return Err(bad(format!(
                    "the bind source {src:?} must be an absolute host path"
                )));
            }
            Ok(MountFlag::Bind(bind(src, false)))
        }
        "volume" => {
            let src = f.source.clone().unwrap_or_default();
            if !src.is_empty() {
                check_volume_name(&src).map_err(&bad)?;
            }
            Ok(MountFlag::Volume(bind(src, true), f.request))
        }
        _ => tmpfs(&f, target).map_err(bad),
    }
}

fn tmpfs(f: &Fields, destination: String) -> Result<MountFlag, String> {
    if f.source.is_some() {
        return Err("type=tmpfs takes no source".into());
    }
    let mut options = Vec::new();
    if let Some(size) = f.tmpfs_size {
        options.push(format!("size={size}"));
    }
    if let Some(mode) = f.tmpfs_mode {
        options.push(format!("mode={mode:o}"));
    }
    if f.read_only {
        options.push("ro".into());
    }
    Ok(MountFlag::Tmpfs(TmpfsMount {
        destination,
        options,
    }))
}

fn read_field(f: &mut Fields, field: &str) -> Result<(), String> {
    let (key, value) = match field.split_once('=') {
        Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v)),
        None => (field.trim().to_ascii_lowercase(), None),
    };
    let need = |v: Option<&str>| {
        v.map(str::to_string)
            .ok_or(format!("{key} needs a value ({key}=…)"))
    };
    match key.as_str() {
        "type" => f.kind = Some(need(value)?),
        "source" | "src" => f.source = Some(need(value)?),
        "target" | "destination" | "dst" => f.target = Some(need(value)?),
        "readonly" | "ro" => f.read_only = flag(&key, value)?,
        "volume-nocopy" => f.no_copy = flag(&key, value)?,
        // Only meaningful on macOS; docker accepts and ignores it on Linux too.
        "consistency" => {}
        "bind-propagation" => {
            let v = need(value)?;
            if !PROPAGATIONS.contains(&v.as_str()) {
                return Err(format!(
                    "bind-propagation={v} is not one of {}",
                    PROPAGATIONS.join(", ")
                ));
            }
            f.propagation = Some(v);
        }
        "volume-driver" => f.request.driver = Some(need(value)?),
        "volume-opt" | "volume-label" => {
            let v = need(value)?;
            let (k, val) = v
                .split_once('=')
                .ok_or(format!("{key}={v}: expected {key}=KEY=VALUE"))?;
            let map = match key.as_str() {
                "volume-opt" => &mut f.request.options,
                _ => &mut f.request.labels,
            };
            map.insert(k.to_string(), val.to_string());
        }
        "tmpfs-size" => f.tmpfs_size = Some(parse_size(&need(value)?)?),
        "tmpfs-mode" => {
            let v = need(value)?;
            f.tmpfs_mode = Some(
                u32::from_str_radix(&v, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or(format!("tmpfs-mode={v} is not an octal mode such as 1777"))?,
            );
        }
        "bind-nonrecursive" | "bind-recursive" | "volume-subpath" | "tmpfs-options" => {
            return Err(format!("{key} is not supported by berth"))
        }
        other => return Err(format!("unknown key {other:?}")),
    }
    f.keys.push(key);
    Ok(())
}

fn flag(key: &str, value: Option<&str>) -> Result<bool, String> {
    match value.map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(v) => Err(format!("{key}={v}: use true or false")),
    }
}

/// docker's RAMInBytes: a number with an optional b, k, m, g (binary units).
fn parse_size(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(end);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("tmpfs-size={s} is not a size such as 64m"))?;
    let mult: u64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(format!("tmpfs-size={s} is not a size such as 64m")),
    };
    n.checked_mul(mult)
        .filter(|b| *b > 0)
        .ok_or(format!("tmpfs-size={s} is out of range"))
}

/// One CSV record (docker reads `--mount` with Go's encoding/csv): fields split on
/// commas, a field in double quotes may hold commas and `""` for a quote.
fn split_csv(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quote is not closed".into());
    }
    out.push(cur);
    Ok(out.into_iter().filter(|f| !f.trim().is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_types() {
        let MountFlag::Bind(b) =
            parse_mount("type=bind,src=/srv,dst=/data,readonly,bind-propagation=rslave").unwrap()
        else {
            panic!()
        };
        assert!(b.read_only && !b.volume && b.propagation.as_deref() == Some("rslave"));
        let MountFlag::Volume(v, req) = parse_mount(
            "source=data,target=/d,\"volume-opt=o=bind,rbind\",volume-opt=type=none,volume-label=a=b",
        )
        .unwrap() else {
            panic!()
        };
        assert!(v.volume && !v.anonymous && v.source == "data");
        assert_eq!(req.options["o"], "bind,rbind");
        assert_eq!(req.labels["a"], "b");
        let MountFlag::Volume(v, _) = parse_mount("type=volume,destination=/x").unwrap() else {
            panic!()
        };
        assert!(v.anonymous);
        let MountFlag::Tmpfs(t) =
            parse_mount("type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770").unwrap()
        else {
            panic!()
        };
        assert_eq!(t.options, vec!["size=67108864", "mode=1770"]);
    }

    #[test]
    fn refusals() {
        for bad in [
            "type=bind,src=../../etc,dst=/x",
            "type=bind,src=etc,dst=/x",
            "type=volume,src=../../etc,dst=/x",
            "type=volume,src=a/b,dst=/x",
            "type=bind,dst=/x",
            "type=volume,src=data",
            "type=volume,src=data,dst=/../etc",
            "type=volume,src=data,dst=/x,bogus=1",
            "type=volume,src=data,dst=/x,tmpfs-size=1m",
            "type=tmpfs,src=x,dst=/t",
            "type=tmpfs,dst=/t,tmpfs-mode=999",
            "type=tmpfs,dst=/t,tmpfs-size=lots",
            "type=bind,src=/s,dst=/x,bind-propagation=sideways",
            "type=npipe,src=/s,dst=/x",
            "type=bind,src=/s,dst=/x,bind-nonrecursive",
            "type=volume,src=d,dst=/x,\"volume-opt=o=a",
        ] {
            assert!(parse_mount(bad).is_err(), "{bad}");
        }
    }
}
