"""`kubeline schedule` without a cluster: `next` prints when an expression fires, `create --dry-run` shows the
RecurringRun each flag makes, a bad flag exits 2 naming it; `kubeline validate` checks RecurringRuns and Queues."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubeline.engine.plan import load_spec
from tests.helpers import kubeline

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = str(ROOT / "examples" / "add-subtract-multiply.yaml")


def test_next_prints_the_firings_in_the_time_zone_across_daylight_saving(tmp_path: Path) -> None:
    shown = kubeline(
        "schedule", "next", "0 2 * * *", "--timezone", "Europe/Paris", "--after", "2026-03-27T12:00:00Z",
        "--count", "3", home=tmp_path,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    # 02:00 on 29 March does not exist in Paris (clocks jump to 03:00): croniter fires at 03:00 local
    assert shown.stdout.split() == [
        "2026-03-28T02:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:00:00+02:00",
    ]


def test_next_reads_kfps_six_fields_with_seconds_first(tmp_path: Path) -> None:
    shown = kubeline("schedule", "next", "30 */15 * * * *", "--after", "2026-12-01T10:00:00Z", home=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == [
        f"2026-12-01T{t}+00:00" for t in ("10:00:30", "10:15:30", "10:30:30", "10:45:30", "11:00:30")
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["next", "0 2 * *"], "EXPR: '0 2 * *' has 4 fields"),
        (["next", "@sometimes"], "EXPR: '@sometimes' is unknown; use one of"),
        (["next", "@daily", "--timezone", "Mars/Olympus"], "--timezone: 'Mars/Olympus' is not an IANA time zone"),
        (["next", "@daily", "--count", "0"], "--count: must be from 1 to 1000, not 0"),
        (["next", "0 2 * * *", "--count", "100000000"], "--count: must be from 1 to 1000, not 100000000"),
        (["next", "@daily", "--after", "noon"], "--after: 'noon' is not an RFC 3339 time"),
        (["create", PIPELINE, "--cron", "61 * * * *", "--dry-run"], "--cron: '61 * * * *' is not a cron expression"),
        (["create", PIPELINE, "--every", "often", "--dry-run"], "--every:"),
        (["create", PIPELINE, "--every", "1m", "--timezone", "UTC", "--dry-run"], "--timezone: applies to --cron only"),
        (
            ["create", PIPELINE, "--cron", "@daily", "--start", "soon", "--dry-run"],
            "--start: 'soon' is not an RFC 3339",
        ),
        (["create", PIPELINE, "--cron", "@daily", "--max-concurrency", "0", "--dry-run"], "--max-concurrency:"),
        (["create", PIPELINE, "--cron", "@daily", "--keep-failed", "-1", "--dry-run"], "--keep-failed:"),
        (
            ["create", PIPELINE, "--cron", "@daily", "-p", "nope=1", "--dry-run"],
            "-p: arguments.nope: the pipeline has no parameter 'nope'",
        ),
        (["create", PIPELINE, "--cron", "@daily", "-p", "value_1=x", "--dry-run"], "'x' is not an integer"),
        (["create", PIPELINE, "--cron", "@daily", "--name", "Nightly!", "--dry-run"], "--name:"),
        (
            ["create", "Not a pipeline", "--cron", "@daily", "--dry-run"],
            "FILE_OR_PIPELINE: 'Not a pipeline' is no pipeline file",
        ),
        (["create", str(ROOT / "missing.yaml"), "--cron", "@daily", "--dry-run"], "missing.yaml"),
    ],
)
def test_bad_input_exits_2_naming_the_flag(tmp_path: Path, args: list[str], message: str) -> None:
    result = kubeline("schedule", *args, home=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_create_needs_a_cron_or_an_interval(tmp_path: Path) -> None:
    result = kubeline("schedule", "create", PIPELINE, "--dry-run", home=tmp_path)
    assert result.returncode == 2 and "one of the arguments --cron --every is required" in result.stderr


def test_dry_run_shows_the_recurring_run_each_flag_makes_with_the_files_spec_inside(tmp_path: Path) -> None:
    result = kubeline(
        "schedule", "create", PIPELINE, "--cron", "0 2 * * 1-5", "--timezone", "Europe/Paris", "-p", "value_1=9",
        "--name", "weekdays", "--experiment", "Nightly X", "--max-concurrency", "2", "--policy", "replace",
        "--no-catchup", "--start", "2026-12-01T00:00:00Z", "--end", "2027-12-01T00:00:00Z", "--suspended",
        "--keep-succeeded", "3", "--keep-failed", "1", "--dry-run", "-o", "yaml", home=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [recurring] = yaml.safe_load_all(result.stdout)  # no Pipeline: a later edit of the file changes no schedule
    [pipeline] = yaml.safe_load_all(Path(PIPELINE).read_text())
    assert recurring["metadata"] == {
        "name": "weekdays",
        "labels": {"kubeline.dev/pipeline": "add-subtract-multiply", "kubeline.dev/experiment": "nightly-x"},
    }
    assert recurring["spec"] == {
        "schedule": {
            "cron": "0 2 * * 1-5",
            "timeZone": "Europe/Paris",
            "startTime": "2026-12-01T00:00:00Z",
            "endTime": "2027-12-01T00:00:00Z",
        },
        "template": {"spec": {"pipelineSpec": load_spec(pipeline["spec"]).to_dict(), "arguments": {"value_1": "9"}}},
        "experiment": "nightly-x",
        "maxConcurrency": 2,
        "concurrencyPolicy": "Replace",
        "catchUp": False,
        "suspend": True,
        "successfulRunsHistoryLimit": 3,
        "failedRunsHistoryLimit": 1,
    }
    (tmp_path / "both.yaml").write_text(result.stdout)
    checked = kubeline("validate", str(tmp_path / "both.yaml"), home=tmp_path)  # what it prints is valid
    assert checked.returncode == 0, checked.stderr
    assert "RecurringRun 'weekdays' is valid (cron '0 2 * * 1-5')" in checked.stdout


def test_dry_run_of_a_python_pipeline_and_of_a_pipeline_on_the_cluster(tmp_path: Path) -> None:
    python = kubeline(
        "schedule",
        "create",
        str(ROOT / "examples" / "python" / "add_subtract_multiply.py"),
        "--every",
        "1h",
        "--dry-run",
        home=tmp_path,
    )
    assert python.returncode == 0, python.stderr
    [recurring] = yaml.safe_load_all(python.stdout)
    assert recurring["spec"]["schedule"] == {"interval": "1h"}
    assert recurring["metadata"]["labels"] == {"kubeline.dev/pipeline": "add-subtract-multiply"}
    assert [p["name"] for p in recurring["spec"]["template"]["spec"]["pipelineSpec"]["params"]] == [
        "value_1",
        "value_2",
    ]
    by_name = kubeline("schedule", "create", "train", "--cron", "@hourly", "--dry-run", home=tmp_path)
    assert by_name.returncode == 0, by_name.stderr
    [recurring] = yaml.safe_load_all(by_name.stdout)  # by name: Runs follow the Pipeline as it is updated
    assert recurring["spec"]["template"]["spec"]["pipelineRef"] == {"name": "train"}


def test_validate_reports_every_problem_of_recurring_runs_and_queues(tmp_path: Path) -> None:
    path = tmp_path / "resources.yaml"
    path.write_text(
        """\
apiVersion: kubeline.dev/v1alpha1
kind: RecurringRun
metadata: {name: nightly}
spec:
  schedule: {cron: "0 2 * * *", timeZone: Nowhere/City}
  concurrencyPolicy: Sometimes
  template: {spec: {pipelineRef: {name: train}}}
---
apiVersion: kubeline.dev/v1alpha1
kind: RecurringRun
metadata: {name: both}
spec:
  schedule: {cron: "@daily", interval: 1h}
  template: {spec: {pipelineRef: {name: train}}}
---
apiVersion: kubeline.dev/v1alpha1
kind: Queue
metadata: {name: gpu}
spec: {maxRunning: 0}
---
apiVersion: kubeline.dev/v1alpha1
kind: Queue
metadata: {name: cpu}
spec: {maxRunning: 4}
---
apiVersion: kubeline.dev/v1alpha1
kind: Queue
metadata: {name: Bad_Q}
spec: {maxRunning: 1}
"""
    )
    result = kubeline("validate", str(path), home=tmp_path)
    assert result.returncode == 2
    assert "5 problems" in result.stderr
    assert "Queue[Bad_Q].metadata.name: 'Bad_Q' is not a valid name" in result.stderr
    assert "RecurringRun[nightly].spec.concurrencyPolicy: must be 'Allow', 'Forbid' or 'Replace'" in result.stderr
    assert "RecurringRun[nightly].spec.schedule.timeZone: 'Nowhere/City' is not an IANA time zone" in result.stderr
    assert "RecurringRun[both].spec.schedule: set exactly one of cron and interval" in result.stderr
    assert "Queue[gpu].spec.maxRunning: input should be greater than or equal to 1" in result.stderr
    fixed = path.read_text().replace("timeZone: Nowhere/City", "timeZone: Europe/Paris").replace("Sometimes", "Forbid")
    fixed = fixed.replace(", interval: 1h", "").replace("maxRunning: 0", "maxRunning: 2").replace("Bad_Q", "bad-q")
    path.write_text(fixed)
    result = kubeline("validate", str(path), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Queue 'cpu' is valid (at most 4 running)" in result.stdout


class RecordingJobs:
    """The Client's job calls, recorded; a name it does not know is its ValueError."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.runs_deleted: list[bool] = []

    def _call(self, method: str, job_id: str) -> None:
        if job_id == "gone":
            raise ValueError("no recurringrun with id or name 'gone' in namespace 'ml'")
        self.calls.append((method, job_id))

    def disable_job(self, job_id: str) -> None:
        self._call("disable_job", job_id)

    def enable_job(self, job_id: str) -> None:
        self._call("enable_job", job_id)

    def delete_job(self, job_id: str, delete_runs: bool = False) -> None:
        self._call("delete_job", job_id)
        self.runs_deleted.append(delete_runs)


@pytest.mark.parametrize(
    "command, call, said",
    [
        ("suspend", "disable_job", "recurring run nightly suspended: no Runs are made until `kubeline schedule resume"),
        ("resume", "enable_job", "recurring run nightly resumed"),
        ("delete", "delete_job", "recurring run nightly deleted"),
    ],
)
def test_suspend_resume_and_delete_call_the_client_and_say_what_was_done(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str, call: str, said: str
) -> None:
    from kubeline.commands import main, schedule

    jobs = RecordingJobs()
    monkeypatch.setattr(schedule, "cluster_client", lambda args: jobs)
    assert main(["schedule", command, "nightly", "-n", "ml"]) == 0
    assert jobs.calls == [(call, "nightly")]
    assert said in capsys.readouterr().out
    assert main(["schedule", command, "gone"]) == 2
    assert "NAME: no recurringrun with id or name 'gone'" in capsys.readouterr().err


def test_delete_keeps_the_runs_made_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubeline.commands import main, schedule

    jobs = RecordingJobs()
    monkeypatch.setattr(schedule, "cluster_client", lambda args: jobs)
    assert main(["schedule", "delete", "nightly"]) == 0
    assert main(["schedule", "delete", "nightly", "--with-runs"]) == 0
    assert jobs.runs_deleted == [False, True]
