"""The comparison matrix of the README, computed from `benchmarks/results/rto.json` (pure).

Each row names both sides' settings, the figures per failure mode ("ours vs keepalived"), the
false failovers of the noise part at the same settings, and why the two differ: the nominal
detection windows computed from the settings (ours: fall x interval, plus the probe timeout
on a crash; keepalived: 3 x advert_int + skew on a crash, vrrp_script interval x fall on a
hang, the skew alone after a stop's priority-0 advert).

Two shapes of rto.json are read: `matrix` (a list of rows, written by `failover lab bench`
since issue 24) and the older flat one (`failover`/`keepalived`/`keepalived_fast`/
`equal_window`/`noise`/`realistic`), whose rows are labelled with the settings it recorded
and what it did not record.
"""

from __future__ import annotations

from typing import Any

MODES = ("crash", "hang", "stop")
EVEN_S = 0.1  # within this, neither side is called faster
BACKUP_PRIORITY = 100  # the lab's keepalived backup; skew = (256 - priority) / 256 x advert_int
LEGACY_POLL_S = 0.05  # the lab's cloud.poll_dense_s before issue 24; that rto.json does not record it

SPLIT_BRAIN_WITHDRAWN = (" The split brain is withdrawn: the restarted keepalived had exited ('daemon is "
                         "already running', a stale pid file) and the notify log kept the killed one's "
                         "MASTER line; one VIP in the kernel (benchmarks/results/notes/issue-24.md)")

Row = dict[str, str]


def num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def secs(v: Any, digits: int = 2) -> str:
    x = num(v)
    return "-" if x is None else f"{x:.{digits}f} s"


def g(v: Any) -> str:
    x = num(v)
    return "?" if x is None else f"{x:g}"


def ours_label(s: dict[str, Any]) -> str:
    parts = [f"interval {g(s.get('interval_s'))} s", f"timeout {g(s.get('timeout_s'))} s",
             f"fall {s.get('fall', '?')}"]
    poll = s.get("poll_dense_s")
    parts.append(f"polling {g(poll)} s" if poll is not None else "polling not recorded")
    if s.get("ecs_status_interval_s") is not None:
        parts.append(f"ecs_status every {g(s['ecs_status_interval_s'])} s")
    if s.get("stop_notice"):
        parts.append(f"stop notice {s['stop_notice']}")
    parts.append(str(s.get("cloud", "instant cloud")))
    return ", ".join(parts)


def keepalived_label(s: dict[str, Any]) -> str:
    return (f"advert_int {g(s.get('advert_int'))} s, vrrp_script every "
            f"{g(s.get('script_interval_s', 1))} s x fall {s.get('fall', '?')}")


def windows(ours: dict[str, Any], ka: dict[str, Any]) -> str:
    """The nominal detection windows the settings imply, per failure kind."""
    interval, timeout, fall = num(ours.get("interval_s")), num(ours.get("timeout_s")), num(ours.get("fall"))
    advert, script = num(ka.get("advert_int")), num(ka.get("script_interval_s", 1))
    kfall = num(ka.get("fall"))
    if None in (interval, timeout, fall, advert, script, kfall):
        return "settings not recorded"
    assert interval is not None and timeout is not None and fall is not None
    assert advert is not None and script is not None and kfall is not None
    skew = (256 - BACKUP_PRIORITY) / 256 * advert
    status = num(ours.get("ecs_status_interval_s")) or interval
    return (f"crash: ours {fall:g}x{interval:g} = {fall * interval:.2f} s (+{timeout:g} s timeout), "
            f"keepalived 3x{advert:g} + skew {skew:.2f} = {3 * advert + skew:.2f} s; "
            f"hang: ours the same, keepalived script {kfall:g}x{script:g} = {kfall * script:.2f} s; "
            f"stop: keepalived's priority-0 advert, then skew {skew:.2f} s; " + (
                "ours hears the member's signed notice as its unit stops, then the quorum's vote"
                if ours.get("stop_notice") else
                f"ours sees Stopping in the cloud within one ecs_status round ({status:g} s)"))


def steps(ours: dict[str, Any]) -> str:
    """How long our steps took after detection (crash medians): polling even an instant cloud."""
    b = ((ours.get("crash") or {}).get("breakdown_median_s")) or {}
    parts = [num(b.get(k)) for k in ("detach", "attach", "guest", "verify")]
    if None in parts:
        return ""
    total = sum(p or 0 for p in parts)
    return f"ours' steps after detection (detach + attach + guest + verify): {total:.2f} s"


def cell(ours: dict[str, Any] | None, ka: dict[str, Any] | None) -> str:
    """`ours vs keepalived` medians, with who is faster (or even within EVEN_S)."""
    if not ours or not ka:
        return "not run" if not ours and not ka else f"{_one(ours)} vs {_one(ka)}"
    m, k = num(ours.get("median_s")), num(ka.get("median_s"))
    shown = f"{secs(m)} vs {secs(k)}".replace(" s vs", " vs")
    shown += _counts(ours) + _counts(ka, "keepalived ")
    if m is None or k is None:
        return shown
    d = m - k
    verdict = "even" if abs(d) <= EVEN_S else ("ours faster" if d < 0 else "keepalived faster")
    return f"{shown} ({verdict}, {d:+.2f} s)"


def _one(s: dict[str, Any] | None) -> str:
    return "not run" if not s else secs(s.get("median_s"))


def _counts(s: dict[str, Any] | None, who: str = "") -> str:
    if not s or s.get("ok") is None or s.get("ok") == s.get("runs"):
        return ""
    return f" [{who}{s.get('ok')} of {s.get('runs')} ok]"


def noise_cell(noise: dict[str, Any] | None) -> str:
    if not noise:
        return "not run"
    st = noise.get("settings") or {}
    ours = (noise.get("failover") or {}).get("false_failovers")
    ka = (noise.get("keepalived") or {}).get("false_failovers")
    return (f"{ours} vs {ka} in {g(st.get('duration_s'))} s at {num(st.get('loss_each_way')) or 0:.0%} "
            f"loss each way{', CPU hogs' if st.get('cpu_hogs') else ''}")


def rto_row(n: str, title: str, ours_s: dict[str, Any], ka_s: dict[str, Any],
            ours: dict[str, Any], ka: dict[str, Any], noise: dict[str, Any] | None, note: str = "") -> Row:
    why = "; ".join(x for x in (windows(ours_s, ka_s), steps(ours)) if x)
    row: Row = {"n": n, "title": title, "ours": ours_label(ours_s), "keepalived": keepalived_label(ka_s),
                "why": why + (f". {note}" if note else "")}
    for mode in MODES:
        row[mode] = cell(ours.get(mode), ka.get(mode)) if mode in ours else "not run"
    row["noise"] = noise_cell(noise)
    return row


# ---------------------------------------------------------------- the matrix written since issue 24

def rows_from_matrix(doc: dict[str, Any]) -> list[Row]:
    out = []
    for r in doc["matrix"]:
        ours_s, ka_s = r["ours"]["settings"], r["keepalived"]["settings"]
        rto = r.get("rto") or {}
        out.append(rto_row(r["n"], r["title"], ours_s, ka_s, rto.get("failover") or {},
                           rto.get("keepalived") or {}, r.get("noise"), r.get("note", "")))
    return out


# ---------------------------------------------------------------- the flat rto.json before it

def rows_from_legacy(doc: dict[str, Any]) -> list[Row]:
    st = doc.get("settings") or {}
    lab = {**(st.get("health") or {}), "poll_dense_s": LEGACY_POLL_S}
    kst = st.get("keepalived") or {}
    ka1 = {"advert_int": kst.get("advert_int", 1.0), "script_interval_s": kst.get("script_interval_s", 1),
           "fall": kst.get("fall", 3)}
    kfast = {"advert_int": kst.get("fast_advert_int"), "script_interval_s": kst.get("script_interval_s", 1),
             "fall": kst.get("fast_fall", 1)}
    rows = [rto_row("a", "lab settings (not the product's defaults) vs keepalived defaults", lab, ka1,
                    doc.get("failover") or {}, doc.get("keepalived") or {}, None,
                    "ours ran at a 0.6 s window against keepalived's 3.6 s")]
    if doc.get("keepalived_fast"):
        rows.append(rto_row("b", "lab settings vs keepalived at a sub-second advert_int", lab, kfast,
                            doc.get("failover") or {}, doc["keepalived_fast"], None,
                            str(st.get("keepalived_fast_note", "")) + SPLIT_BRAIN_WITHDRAWN))
    window = doc.get("equal_window")
    if window:
        wst = {**window["health"], "poll_dense_s": LEGACY_POLL_S}
        rows.append(rto_row("c", "equal detection window, 1 s (ours timeout 0.25 s, not the default 0.5 s)",
                            wst, ka1, window["failover"], _theirs(window), None,
                            "keepalived's figures are its advert_int 1 run of the same bench"))
        fast = window.get("status_fast")
        if fast:
            rows.append(rto_row("c'", "as (c), stop seen by the ecs_status check every "
                                f"{g(fast['ecs_status_interval_s'])} s",
                                {**wst, "ecs_status_interval_s": fast["ecs_status_interval_s"]}, ka1,
                                fast["failover"], _theirs(fast), None))
    noise = doc.get("noise")
    if noise:
        nst = noise["settings"]
        rows.append(rto_row("d", "noise only: lab settings vs keepalived advert_int "
                            f"{g(nst['keepalived']['advert_int'])} s",
                            {**nst["failover_window"], "poll_dense_s": LEGACY_POLL_S}, nst["keepalived"],
                            {}, {}, noise, "keepalived at 0.2 s expects takeovers from loss arithmetic "
                            "alone; the RTO rows used its 1 s setting"))
    return rows


def _theirs(part: dict[str, Any]) -> dict[str, Any]:
    """keepalived's medians as the part compared them (its own run, not the flat file's)."""
    compare = part.get("compare") or {}
    return {mode: {"median_s": c.get("keepalived_median_s")} for mode, c in compare.items()}


def rows(doc: dict[str, Any]) -> list[Row]:
    return rows_from_matrix(doc) if "matrix" in doc else rows_from_legacy(doc)


def provenance(doc: dict[str, Any]) -> str:
    """How rto.json was made: one run, or spliced from several (said plainly)."""
    st = doc.get("settings") or {}
    cmds = st.get("commands")
    if isinstance(cmds, dict) and any("splice" in str(v) for v in cmds.values()):
        return ("rto.json was spliced by hand from two runs: " +
                "; ".join(f"{k}: `{str(v).split(' (')[0]}`" for k, v in cmds.items()) +
                f" (measured {st.get('measured_at', '?')}); to be regenerated in one run")
    cmd = doc.get("command") or st.get("command") or "failover lab bench --json"
    smoke = " SMOKE RUN (few trials): not the figures." if doc.get("smoke") else ""
    return f"one run: `{cmd}` (measured {st.get('measured_at', '?')}).{smoke}"


def markdown(doc: dict[str, Any]) -> list[str]:
    lines = ["| # | configuration | crash | hang | stop | false failovers under noise | why |",
             "|---|---|---|---|---|---|---|"]
    for r in rows(doc):
        lines.append(f"| {r['n']} | {r['title']}: ours {r['ours']}; keepalived {r['keepalived']} "
                     f"| {r['crash']} | {r['hang']} | {r['stop']} | {r['noise']} | {r['why']} |")
    return lines
