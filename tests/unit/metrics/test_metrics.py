"""The metrics module: the ECS instance label, default collectors, the reload and pause gauges."""

from __future__ import annotations

from prometheus_client import generate_latest

from failover import metrics


def test_the_ecs_instance_has_its_own_label_and_old_call_sites_still_work() -> None:
    metrics.set_health("lbl", "i-one", True)
    metrics.QUORUM_UP.labels(group="lbl", instance="i-two").set(0)  # the call sites' keyword
    metrics.ENI_HOLDER.labels("lbl", "i-three").set(1)              # positional
    text = generate_latest(metrics.REGISTRY).decode()
    assert 'failover_health_up{ecs_instance="i-one",group="lbl"} 1.0' in text
    assert 'failover_quorum_up{ecs_instance="i-two",group="lbl"} 0.0' in text
    assert 'failover_eni_holder{ecs_instance="i-three",group="lbl"} 1.0' in text
    for line in text.splitlines():
        if line.startswith("failover_") and "{" in line:
            labels = line[line.index("{"):]
            assert "instance=" not in labels.replace("ecs_instance=", ""), line
    metrics.STANDBY_READY.labels(group="lbl", instance="i-four").set(1)
    metrics.STANDBY_READY.remove("lbl", "i-four")  # readiness removes by position
    assert "i-four" not in generate_latest(metrics.REGISTRY).decode()


def test_process_and_platform_collectors_are_on_the_custom_registry() -> None:
    text = generate_latest(metrics.REGISTRY).decode()
    for name in ("process_resident_memory_bytes", "process_open_fds", "python_info", "python_gc_objects_collected_total"):
        assert f"\n{name}" in text, name


def test_config_reload_records_success_time_and_failure() -> None:
    get = metrics.REGISTRY.get_sample_value
    metrics.record_config_reload(True)
    first = get("failover_config_last_reload_success_timestamp_seconds")
    assert get("failover_config_last_reload_successful") == 1 and first and first > 1.7e9
    metrics.record_config_reload(False)
    assert get("failover_config_last_reload_successful") == 0
    assert get("failover_config_last_reload_success_timestamp_seconds") == first  # the last good one


def test_pause_gauge_is_the_pause_time_or_zero() -> None:
    metrics.set_paused("pz", 1_800_000_000.0)
    assert metrics.REGISTRY.get_sample_value("failover_group_paused_since_timestamp_seconds", {"group": "pz"}) == 1.8e9
    metrics.set_paused("pz", None)
    assert metrics.REGISTRY.get_sample_value("failover_group_paused_since_timestamp_seconds", {"group": "pz"}) == 0


def test_a_scrape_carries_no_created_samples_and_every_sample_is_a_contract_name() -> None:
    metrics.record_probe("tcp", "web", 0.01, False, "refused")  # a counter and a histogram child
    text = generate_latest(metrics.REGISTRY).decode()
    samples = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
               if line and not line.startswith("#")}
    assert not any(s.endswith("_created") for s in samples)
    ours = {s for s in samples if s.startswith("failover_")}
    assert ours and ours <= metrics.exported_names()
