"""Rows of the README's "Other figures" table for this round's results (pure; read by report.py).

Whole-replica health (health_replica*.json), /status cost (status.json), the lab's src/dst check
stability part (stability.json, stability_before.json), the HTTP probe comparison
(http_probe.json), cold standbys (cold_standby.json), the partial-failure reliability family
(P rows of reliability.json) and the reliability runs kept apart (issue21/, realistic/).
Every figure is read from the JSON; what a JSON does not record is said so in its row.
"""

from __future__ import annotations

import re
from typing import Any

from benchmarks.report_matrix import g, num, secs

Row = tuple[str, str, str]  # what, figure, command
NO_LOAD = "load not recorded in the JSON (2 cores shared with other work)"


def per(values: dict[str, Any], fmt: str = "{:g}", missing: str = "-") -> str:
    """One figure per replica, in replica order: 'a / b / c'."""
    out = []
    for v in values.values():
        x = num(v)
        out.append(missing if x is None else fmt.format(x))
    return " / ".join(out) or missing


def loads(machine: dict[str, Any]) -> str:
    start, end = machine.get("load_avg_at_start"), machine.get("load_avg_at_end")
    if not start and not end:
        return NO_LOAD
    during = machine.get("load_avg_1m_during") or {}
    over = (f", {g(during.get('mean'))} mean ({g(during.get('min'))}-{g(during.get('max'))}) during"
            if during else "")
    return (f"shared, loaded machine: load average {g((start or [None])[0])} at start, "
            f"{g((end or [None])[0])} at end{over}")


def replica_run(name: str, key: str, run: dict[str, Any]) -> Row:
    r = run.get("result") or {}
    s = r.get("spec") or {}
    http = s.get("http_every")
    mix = "TCP checks only" if http == 0 else f"1 member in {http} checked by HTTP, the rest TCP"
    qps = s.get("account_qps")
    what = (f"whole replica ({name}.json, run `{key}`): {s.get('groups', 0):,} groups, "
            f"{s.get('replicas')} replica(s), {mix}, interval {g(s.get('interval_s'))} s, timeout "
            f"{g(s.get('timeout_s'))} s, api_rate_per_s {g(s.get('api_rate_per_s'))}, emulator account "
            f"limit {g(qps) + ' calls/s per action' if qps is not None else 'off'}, "
            f"{g(s.get('seconds'))} s steady window")
    up = r.get("every_member_up_s") or {}
    up_text = (f"every member up at {per(up, '{:.1f} s')}" if all(num(v) is not None for v in up.values())
               else f"every member up: {per(up, '{:.1f} s', 'never')} (not within the "
                    f"{g(s.get('up_timeout_s'))} s start-up bound; members not up at the end: "
                    f"{per(r.get('members_not_up_at_end') or {}, '{:.0f}')})")
    phases = {p: (r.get(p) or {}).get("replicas") or {} for p in ("startup", "steady")}
    cpu = "; ".join(f"{p} {per({k: v.get('cpu_share_of_one_core') for k, v in reps.items()}, '{:.0%}')}"
                    for p, reps in phases.items())
    lag = {k: (v.get("probe_lag_ms_from_buckets") or {}).get("p99") for k, v in phases["steady"].items()}
    lag_text = (f"steady probe lag p99 {per(lag, '{:.0f} ms', 'no probe result')} (bucket estimate)"
                if lag else "steady probe lag not recorded")
    throttled = sum(int(num(v.get("throttled_calls")) or 0)
                    for reps in phases.values() for v in reps.values())
    goal = run.get("goal") or {}
    fig = (f"{up_text}; CPU share of one core {cpu}; {lag_text}; rounds missed "
           f"{per(r.get('rounds_missed') or {}, '{:.0f}')}; {throttled} throttled calls; ENIs moved "
           f"(no failure injected, so false failovers) {r.get('enis_moved', 'not recorded')}, finished "
           f"failovers {r.get('failovers')}. Goal: up {goal.get('every_member_up_s', '?')} s, CPU "
           f"{goal.get('cpu_share_of_one_core', '?')}, lag p99 "
           f"{goal.get('probe_lag_p99_ms', '?')} ms. {outage_text(r.get('zone_outage'))}"
           f"{loads(run.get('machine') or {})}")
    return what, fig, f"`python {run.get('command')}`"


def outage_text(outage: dict[str, Any] | None) -> str:
    """The zone outage run inside the fleet after its steady window (`--outage N`), if any."""
    if not outage:
        return ""
    f = outage.get("figures") or {}
    failures = outage.get("failures") or []
    return (f"Then a zone outage: {f.get('groups', '?')} groups' holders died at once, every one "
            f"failed over in {secs(f.get('span_s'), 1)} (first start to last end), "
            f"{g(f.get('ratio'))} x the rate-limit bound ({secs(f.get('throughput_bound_s'), 1)}), "
            f"{g(f.get('ratio_to_bound_plus_step_times'))} x the bound plus the emulated step times "
            f"({secs(f.get('bound_plus_step_times_s'), 1)}); throttled calls during it "
            f"{per(outage.get('throttled_by_replica') or {}, '{:.0f}')}; "
            + last_group_text(f.get("last_group"))
            + ("checked from the cloud: each dead group's ENI moved once, to its standby, no other "
               "moved. " if not failures else f"FAILED: {'; '.join(failures)}. "))


def last_group_text(path: dict[str, Any] | None) -> str:
    """Where the last group's time went (`harness/outage_path.py`), when the run recorded it."""
    if not path:
        return ""
    return (f"the last group: {secs(path.get('before_detach_call_s'), 2)} before its detach call "
            f"went (the rate limit's queue), {secs(path.get('cloud_transitions_s'), 2)} the cloud's "
            f"own transitions, {secs(path.get('controller_rest_s'), 2)} the controller's; ")


def replica_rows(name: str, doc: dict[str, Any]) -> list[Row]:
    return [replica_run(name, key, run) for key, run in doc.items() if isinstance(run, dict)]


def status_rows(doc: dict[str, Any]) -> list[Row]:
    s, h = doc.get("settings") or {}, doc.get("http") or {}
    cli, full, mirror = (doc.get(k) or {} for k in ("status_reads_cli", "full_history", "mirror_replica"))
    what = (f"/status at {s.get('groups', 0):,} groups, {s.get('records_per_group')} journal records and "
            f"{s.get('members_per_group')} members each, {s.get('replicas')} replica, cache "
            f"{g(s.get('cache_s'))} s, ZooKeeper {s.get('zookeeper')}")
    span = (f"{h.get('rounds')} rounds of {g(h.get('seconds_each'))} s" if "rounds" in h
            else f"{g(h.get('seconds'))} s")
    fig = (f"HTTP /status, {h.get('clients')} clients for {span}: "
           f"{h.get('requests')} requests, "
           f"p50 {secs(h.get('p50_s'), 4)}, p99 {secs(h.get('p99_s'), 4)}, max {secs(h.get('max_s'), 3)}, "
           f"{g(h.get('zk_reads_per_s'))} ZooKeeper reads/s{_against(doc)}; one build: replica mirror p50 "
           f"{secs(mirror.get('p50_s'), 3)} ({mirror.get('zk_reads_per_build')} reads), CLI status reads p50 "
           f"{secs(cli.get('p50_s'))} ({cli.get('zk_reads_per_build')} reads), full history p50 "
           f"{secs(full.get('p50_s'))} ({full.get('zk_reads_per_build')} reads). {doc.get('note', NO_LOAD)}")
    return [(what, fig, f"`python {doc.get('command')}`")]


def _against(doc: dict[str, Any]) -> str:
    """The same load in turn against the document built whole (before) and a fixed one."""
    whole, fixed = doc.get("http_built_whole"), doc.get("http_fixed_document")
    if not whole or not fixed:
        return ""
    load = doc.get("load_average") or [None]
    return (f" (built by parts, {doc['settings'].get('groups_changing_per_s')} groups changing a "
            f"second; built whole as before: p99 {secs(whole.get('p99_s'), 4)}; a fixed document: p99 "
            f"{secs(fixed.get('p99_s'), 4)}; load average {load[0]} at the end)")


def counts(d: Any) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items()) if isinstance(d, dict) and d else "none"


def stability_rows(doc: dict[str, Any]) -> list[Row]:
    st = doc.get("stability") or {}
    if not st:
        return []
    h = (doc.get("settings") or {}).get("health") or {}
    p = st.get("probe") or {}
    old = st.get("guest_routes") == "old"
    health = (f"health interval {g(h.get('interval_s'))} s, timeout {g(h.get('timeout_s'))} s, "
              f"fall {h.get('fall')}; " if h else "")
    what = (f"lab, {'before' if old else 'after'} the src/dst-check fix: new holder watched "
            f"{g(st.get('watch_s'))} s after each crash failover; src/dst check {st.get('srcdst_check')}, "
            f"primary route metric {st.get('primary_metric')}, guest routes {st.get('guest_routes')}; "
            f"{health}probes of the holder every {g(p.get('period_s'))} s from "
            f"{len(p.get('from') or [])} controllers")
    load = ((doc.get("settings") or {}).get("host") or {}).get("load_avg")
    fig = (f"{st.get('false_failovers')} false failovers, {st.get('holder_unreachable_probes')} of "
           f"{st.get('probes')} holder probes unreachable, {st.get('failed_trials')} of {st.get('trials')} "
           f"trials failed; dropped by the src/dst check: {counts(st.get('dropped_by_srcdst_check'))}. "
           + (f"load average {load[0]} at the run's end" if load else NO_LOAD))
    cmd = (f"`{doc['command']}` (`stability`)" if doc.get("command") else
           f"`failover lab bench --parts stability --stability-trials {st.get('trials')} --stability-watch-s "
           f"{g(st.get('watch_s'))}{' --old-guest-routes' if old else ''} --out benchmarks/results` "
           "(the JSON records no command; rebuilt from its settings)")
    return [(what, fig, cmd)]


def probe_cpu_rows(doc: dict[str, Any]) -> list[Row]:
    s = doc.get("settings") or {}
    what = (f"CPU per probe of a health round's paths: {s.get('probes_per_round')} probes at once, "
            f"{s.get('rounds')} rounds each, loopback (round-*: the batched round; single-*: a future "
            f"per probe; streams-http: the asyncio-streams client)")
    fig = "; ".join(f"{k}: {g(v.get('user_us_per_probe'))} us user + {g(v.get('system_us_per_probe'))} us "
                    f"system, {v.get('failed')} failed"
                    for k, v in (doc.get("result") or {}).items() if isinstance(v, dict))
    return [(what, f"{fig}. {loads(doc.get('machine') or {})}", f"`python {doc.get('command')}`")]


def http_probe_rows(doc: dict[str, Any]) -> list[Row]:
    s = doc.get("settings") or {}
    what = (f"HTTP probe, hand-written (streams) vs aiohttp: {s.get('probes_per_client')} probes per client, "
            f"{s.get('concurrency')} at once, target {s.get('target')}")
    kinds = [(k, v) for k, v in doc.items() if k != "settings" and isinstance(v, dict)]
    fig = "; ".join(f"{k}: {g(v.get('cpu_ms_per_probe'))} ms CPU per probe, round wall median "
                    f"{secs(v.get('round_wall_s_median'))} (p90 {secs(v.get('round_wall_s_p90'))}), "
                    f"{v.get('failed_probes')} failed" for k, v in kinds)
    return [(what, f"{fig}. {s.get('machine', NO_LOAD)}",
             f"`python benchmarks/bench_http_probe.py --probes {s.get('probes_per_client')} --concurrency "
             f"{s.get('concurrency')}` (the JSON records no command; rebuilt from its settings)")]


def cold_standby_rows(doc: dict[str, Any]) -> list[Row]:
    s = doc.get("settings") or {}
    total = {k: (doc.get(k) or {}).get("total_s") or {} for k in ("warm", "cold")}
    added = doc.get("added_by_cold_standby") or {}
    what = (f"cold standby (stopped, started at failover) vs warm: {s.get('profile')} profile at time_scale "
            f"{g(s.get('time_scale'))}, {s.get('trials')} trials, start law {s.get('start_law')}, failure "
            f"shares {g(s.get('failure_shares'))}")
    fig = ("; ".join(f"{k} failover median {secs(v.get('median_real_equiv_s'))}, p90 "
                     f"{secs(v.get('p90_real_equiv_s'))}" for k, v in total.items())
           + f"; added by the cold standby median {secs(added.get('median_real_equiv_s'))}, p90 "
           f"{secs(added.get('p90_real_equiv_s'))} (times scaled back to real, x1/time_scale; the start "
           f"law is assumed). {s.get('host', NO_LOAD)}")
    return [(what, fig, f"`python {doc.get('command')}`")]


def failed_runs(t: dict[str, Any]) -> str:
    fails = t.get("failures") or []
    if not fails:
        return f"passed {t.get('runs')} of {t.get('runs')}"
    runs = {m.group(1) for f in fails if (m := re.match(r"run (\d+):", str(f)))}
    first = str(fails[0])
    first = first if len(first) <= 160 else first[:157] + "..."
    return f"FAILED in {len(runs) or '?'} of {t.get('runs')} runs (first: {first})"


def trial_load(doc: dict[str, Any], t: dict[str, Any]) -> str:
    """The load around the invocation that ran this trial (bench_reliability's `machine`), or the
    run's `load_average` in files written before per-trial loads were kept."""
    here = (doc.get("machine") or {}).get(str(t.get("trial", "")).split(" ")[0])
    if here:
        return loads(here)
    return run_load(doc)


def partial_rows(doc: dict[str, Any]) -> list[Row]:
    out = []
    for t in doc.get("trials") or []:
        if not str(t.get("trial", "")).startswith("P"):
            continue
        f = t.get("figures") or {}
        out.append((f"partial failure {t.get('trial')}",
                    f"{failed_runs(t)}; served again in {f.get('served_runs')} runs, p50 "
                    f"{secs(f.get('served_after_p50_s'))}, max {secs(f.get('served_after_max_s'))}; status "
                    f"wrong beyond the {g(f.get('detection_window_s'))} s detection window at most "
                    f"{secs(f.get('lying_beyond_window_max_s'))}; CLI wrong {f.get('cli_lies')} of "
                    f"{f.get('cli_samples')} samples. {trial_load(doc, t)}",
                    "`python benchmarks/bench_reliability.py --only P`"))
    return out


def scalars(f: dict[str, Any]) -> str:
    """A trial's figures that are one number or word (lists of numbers as their range)."""
    parts = []
    for k, v in f.items():
        if isinstance(v, list) and v and all(num(x) is not None for x in v):
            parts.append(f"{k} {g(min(v))}-{g(max(v))}" if len(v) > 1 else f"{k} {g(v[0])}")
        elif isinstance(v, bool | str) or num(v) is not None:
            parts.append(f"{k} {g(v) if num(v) is not None else v}")
    return ", ".join(parts)


def run_rows(name: str, doc: dict[str, Any]) -> list[Row]:
    """A reliability run kept in its own folder (issue21/, realistic/)."""
    where = name.split("/", maxsplit=1)[0]
    profile = (" (the JSON does not record the cloud profile; this folder's runs set "
               "FAILOVER_TRIAL_PROFILE=realistic, see benchmarks/results/notes/issue-22.md)"
               if where == "realistic" else "")
    out = []
    for t in doc.get("trials") or []:
        figs = scalars(t.get("figures") or {})
        out.append((f"reliability ({where}/): {t.get('trial')}{profile}",
                    f"{failed_runs(t)}{'; ' + figs if figs else ''}. {trial_load(doc, t)}",
                    ", then ".join(f"`python {c}`" for c in str(doc.get("command")).split(", then "))))
    return out


def run_load(doc: dict[str, Any]) -> str:
    """A reliability run's `load_average` (1-minute figure at its start and end), when it has one."""
    la = doc.get("load_average") or {}
    if not la:
        return NO_LOAD
    return loads({"load_avg_at_start": la.get("start"), "load_avg_at_end": la.get("end")})


def lent_triggers(real: dict[str, Any]) -> str:
    """What to say when the RunCommand path's guests had staged triggers (an earlier part staged
    them and the lab did not unstage them before the lab fix of this stop): its client saw the
    trigger configure the NIC, not the script."""
    rc = ((real.get("guest_paths") or {}).get("runcommand") or {}).get("breakdown_median_s") or {}
    hot = num(rc.get("hotplug_s"))
    if not hot:
        return ""
    return (f"CAUTION: in this run the RunCommand path's guests still had the staged hot-plug triggers "
            f"of an earlier part (hot-plug median {secs(hot)} on that path), so its client RTO is the "
            "trigger's, not Cloud Assistant's; the lab unstages them since (POST /_sim/unstage), "
            "not re-run. ")


def guest_path_rows(name: str, doc: dict[str, Any]) -> list[Row]:
    """The realistic part's two guest paths on the same seeds (issue 26): a bench kept apart, or
    a full lab run's realistic part."""
    real = doc.get("realistic") or {}
    paths = real.get("guest_paths") or {}
    if not paths:
        return []
    where = name.split("/", maxsplit=1)[0]
    seeds = ", ".join(real.get("seeds") or {})
    st = doc.get("settings") or {}
    rs = st.get("realistic") or {}
    command = (f"failover lab bench --parts realistic --realistic-runs {rs.get('runs_per_seed')} "
               f"--realistic-seeds {len(rs.get('seeds') or [])} --seed {(rs.get('seeds') or ['?'])[0]} "
               f"--time-scale {g(rs.get('time_scale'))} --no-keepalived --out benchmarks/results/{where}")
    law = (real.get("laws") or {}).get("command") or {}
    fig = "; ".join(
        f"{p}: client RTO p50 {secs(v.get('client_rto_p50_s'))}, p90 {secs(v.get('client_rto_p90_s'))} "
        f"over {v.get('trials')} crashes ({v.get('detach_escalated', '?')} with a stalled detach, "
        f"force-stopped), guest step median {secs((v.get('breakdown_median_s') or {}).get('guest_s'))} "
        "(served by " + ", ".join(f"{k} {n}" for k, n in (v.get("guest_step_served_by") or {}).items()) + ")"
        for p, v in paths.items())
    pre, rc = (num((paths.get(p) or {}).get("client_rto_p50_s")) for p in ("prestaged", "runcommand"))
    pair = real.get("guest_paths_paired") or {}
    every = pair.get("pairs") == min(v.get("trials") or 0 for v in paths.values())
    gain = (f"; p50s {secs(None if rc is None or pre is None else rc - pre)} apart" + (
        " (every crash met the same draws, stalls included, on both paths)" if every else
        ", mostly by which crashes met a stalled detach (a stall shifts every later draw of its seed)"))
    gain = gain if pre is not None and rc is not None else ""
    if pair.get("pairs"):
        gain += (f"; crash by crash on identical detach and attach draws ({pair['pairs']} pairs), saved "
                 f"p50 {secs(pair.get('client_rto_saved_p50_s'))} "
                 f"(min {secs(pair.get('client_rto_saved_min_s'))}, "
                 f"max {secs(pair.get('client_rto_saved_max_s'))})")
    host = st.get("host") or {}
    load = (f"load average {g((host.get('load_avg') or [None])[0])} at the end (2 cores shared with "
            "other engineers' runs)") if host.get("load_avg") else NO_LOAD
    return [(f"guest step over RunCommand vs pre-staged ({name}.json): realistic profile, seeds "
             f"{seeds}, crash failovers at the product's defaults, emulated Cloud Assistant median "
             f"{g(law.get('median_s'))} s (assumed), hot-plug trigger median "
             f"{g(((real.get('laws') or {}).get('hotplug') or {}).get('median_s'))} s (assumed)",
             f"{lent_triggers(real)}{fig}{gain} (goal: at least the Cloud Assistant median). {load}",
             f"`{doc['command']}`" if doc.get("command") else
             f"`{command}` (the JSON records no command; rebuilt from its settings)")]
