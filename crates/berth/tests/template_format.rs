//! `--format` with docker's Go template language on real containers and images:
//! `range` over a container's networks (the usual way to get its address), `if`
//! with `eq`, `json`, `join`, `index`, `table`, and errors that say where a
//! template went wrong.

use berth_testkit::{stderr, Berth};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar", "ip", "nft"])
}

#[test]
fn inspect_ranges_over_networks_for_the_address() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "web", "busybox", "sleep", "300"]);
    let ip = b.ok(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        "web",
    ]);
    assert!(
        ip.parse::<std::net::Ipv4Addr>().is_ok(),
        "not an address: {ip:?}"
    );
    // The address the container really has on its interface.
    let inside = b.ok(&["exec", "web", "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(
        inside.contains(&format!("inet {ip}/")),
        "{ip} not in {inside}"
    );
    // range with variables, over the map's keys in sorted order.
    let named = b.ok(&[
        "inspect",
        "--format",
        "{{range $name, $n := .NetworkSettings.Networks}}{{$name}}={{$n.IPAddress}} {{end}}",
        "web",
    ]);
    assert!(named.ends_with(&format!("={ip}")), "{named}");
    b.ok(&["rm", "-f", "web"]);
}

#[test]
fn ps_format_with_if_eq() {
    let Some(b) = env() else { return };
    b.ok(&["run", "-d", "--name", "up1", "busybox", "sleep", "300"]);
    b.ok(&["run", "--name", "done1", "busybox", "true"]);
    let out = b.ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}} {{if eq .State \"running\"}}up{{else}}down{{end}}",
    ]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, ["done1 down", "up1 up"], "{out}");
    // docker's `table` prefix: a header from the field names, \t between columns.
    let table = b.ok(&["ps", "--format", "table {{.Names}}\\t{{.State}}"]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [vec!["NAMES", "STATE"], vec!["up1", "running"]],
        "{table}"
    );
    b.ok(&["rm", "-f", "up1", "done1"]);
}

#[test]
fn images_format_json_is_json() {
    let Some(b) = env() else { return };
    let out = b.ok(&["images", "--format", "{{json .}}"]);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert!(rows.iter().any(|r| r["Repository"] == "busybox"), "{out}");
    // Functions and pipes over the same rows.
    let upper = b.ok(&["images", "--format", "{{.Repository | upper}}:{{len .Tag}}"]);
    assert!(upper.lines().any(|l| l == "BUSYBOX:6"), "{upper}");
}

#[test]
fn inspect_join_and_index() {
    let Some(b) = env() else { return };
    b.ok(&[
        "create", "--name", "c1", "--label", "k=v", "--label", "other=x", "busybox", "sleep", "300",
    ]);
    assert_eq!(
        b.ok(&["inspect", "-f", "{{join .Config.Cmd \",\"}}", "c1"]),
        "sleep,300"
    );
    assert_eq!(
        b.ok(&["inspect", "-f", "{{index .Config.Labels \"k\"}}", "c1"]),
        "v"
    );
    // A label the container lacks is "" as in docker, so `[ -n "$(…)" ]` works.
    let missing = b.run(&["inspect", "-f", "{{index .Config.Labels \"nope\"}}", "c1"]);
    assert!(missing.status.success(), "{}", stderr(&missing));
    assert_eq!(String::from_utf8_lossy(&missing.stdout), "\n");
    assert_eq!(
        b.ok(&[
            "inspect",
            "-f",
            "{{with .Config.Labels}}{{len .}}{{end}} {{printf \"%-6s|\" .Name}} {{.State.Status | printf \"%q\"}}",
            "c1"
        ]),
        "2 /c1   | \"created\""
    );
    b.ok(&["rm", "c1"]);
}

#[test]
fn bad_templates_say_what_and_where() {
    let Some(b) = env() else { return };
    b.ok(&["create", "--name", "c2", "busybox", "true"]);
    let missing = b.run(&["inspect", "-f", "{{.Nope}}", "c2"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains(
            "template: :1:2: executing \"\" at <.Nope>: map has no entry for key \"Nope\""
        ),
        "{}",
        stderr(&missing)
    );
    // Go refuses a stray {{end}}; it must not cut the output short.
    let stray = b.run(&["inspect", "-f", "{{.Name}}{{end}} tail", "c2"]);
    assert!(
        !stray.status.success(),
        "{}",
        String::from_utf8_lossy(&stray.stdout)
    );
    assert!(
        stderr(&stray).contains("unexpected {{end}}"),
        "{}",
        stderr(&stray)
    );
    b.ok(&["rm", "c2"]);
}

#[test]
fn every_listing_takes_the_language() {
    let Some(b) = env() else { return };
    // network ls: if/else over each row.
    let nets = b.ok(&[
        "network",
        "ls",
        "--format",
        "{{.Name}}:{{if eq .Driver \"bridge\" \"null\"}}{{lower .Scope}}{{else}}{{upper .Driver}}{{end}}",
    ]);
    let lines: Vec<&str> = nets.lines().collect();
    assert!(lines.contains(&"host:HOST"), "{nets}");
    assert!(lines.contains(&"none:local"), "{nets}");
    // history: pipes into printf.
    let history = b.ok(&[
        "history",
        "--format",
        "{{.ID | printf \"%.7s\"}}|{{len .CreatedBy}}",
        "busybox",
    ]);
    assert!(
        history.lines().all(|l| l
            .split_once('|')
            .is_some_and(|(id, n)| id.chars().count() <= 7 && n.parse::<usize>().is_ok())),
        "{history}"
    );
    // system df: range-free rows, but variables and comparisons.
    let df = b.ok(&[
        "system",
        "df",
        "--format",
        "{{$t := .Type}}{{if ge (len $t) 1}}{{$t}}{{end}}",
    ]);
    assert!(df.lines().any(|l| l == "Images"), "{df}");
}
