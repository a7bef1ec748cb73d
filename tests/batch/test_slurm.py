"""``hwutils run --slurm``: the job-array script, run by a real single-node Slurm, and task by task without one.

The slow test starts a throwaway Slurm of its own (Debian's ``slurm-wlm`` and ``munge``: munged,
slurmctld and slurmd on 127.0.0.1, on free ports, with state, logs and the munge key in a temporary
folder; no cgroups, no GPUs), submits the smoke profile of two project notebooks through the
generated script, waits for the array to finish and builds the summary. It needs root (slurmd
does) and is skipped with the reason where the packages are missing.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from hwutils.batch import slurm
from tests.batch.helpers import run_cli, write_notebook

SLURM_PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")
ARRAY_TIMEOUT_S = 3600  # two smoke notebooks on a busy 2-core machine; a hung cluster fails instead of hanging


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _slurm_conf(folder: Path, munge_socket: Path) -> str:
    node = platform.node().split(".")[0]  # slurmd takes its node name from the short host name
    return "\n".join([
        "ClusterName=hwutils-test", f"SlurmctldHost={node}(127.0.0.1)",
        f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}", "SlurmUser=root",
        "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={munge_socket}",
        f"StateSaveLocation={folder}/state", f"SlurmdSpoolDir={folder}/spool",
        f"SlurmctldPidFile={folder}/slurmctld.pid", f"SlurmdPidFile={folder}/slurmd.pid",
        f"SlurmctldLogFile={folder}/slurmctld.log", f"SlurmdLogFile={folder}/slurmd.log",
        # no cgroups in a container: processes tracked through /proc, tasks not confined
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none", "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU",
        "MpiDefault=none", "ReturnToService=2",
        f"NodeName={node} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} State=UNKNOWN",
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP", ""])


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A single-node Slurm on this machine; yields the environment its commands need (``SLURM_CONF``)."""
    if os.environ.get("HWUTILS_SLURM_TEST") != "1":
        pytest.skip("starts Slurm daemons and runs two notebooks through them (about 4 minutes): "
                    "`make test-slurm` (HWUTILS_SLURM_TEST=1) runs it")
    missing = [name for name in SLURM_PROGRAMS if shutil.which(name) is None]
    if missing:
        pytest.skip(f"a real Slurm needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge); "
                    f"not installed here: {', '.join(missing)}")
    if os.geteuid() != 0:
        pytest.skip("a throwaway Slurm needs root (slurmd runs tasks as their user)")
    folder = tmp_path_factory.mktemp("slurm")
    folder.chmod(0o755)  # munged wants its socket's folder reachable by everyone
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    key = folder / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o600)
    munge_socket = folder / "munge.socket"
    subprocess.run(["munged", "--force", f"--socket={munge_socket}", f"--key-file={key}", f"--log-file={folder}/munged.log",
                    f"--pid-file={folder}/munged.pid", f"--seed-file={folder}/munged.seed"], check=True)
    conf = folder / "slurm.conf"
    conf.write_text(_slurm_conf(folder, munge_socket))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    try:
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([daemon, "-f", str(conf)], check=True, env=env)
        deadline = time.monotonic() + 120
        while "idle" not in subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env).stdout:
            if time.monotonic() > deadline:
                logs = "\n".join((folder / f"{d}.log").read_text()[-1500:] for d in ("slurmctld", "slurmd")
                                 if (folder / f"{d}.log").exists())
                pytest.fail(f"the test's Slurm node never became idle:\n{logs}")
            time.sleep(1)
        yield env
    finally:
        subprocess.run(["scancel", "--user=root"], env=env, capture_output=True)
        for pid_file in ("slurmd.pid", "slurmctld.pid"):
            if (folder / pid_file).exists():
                subprocess.run(["kill", (folder / pid_file).read_text().strip()], capture_output=True)
        subprocess.run(["munged", "--stop", f"--socket={munge_socket}"], capture_output=True)


def _submitted_script(done: subprocess.CompletedProcess) -> Path:
    assert done.returncode == 0, done.stdout + done.stderr
    return Path(re.search(r"sbatch (\S+)", done.stdout).group(1))


@pytest.mark.slow
@pytest.mark.notebook
def test_two_smoke_notebooks_through_a_real_slurm(slurm_cluster, tmp_path):
    reports = tmp_path / "reports"
    started = time.monotonic()
    script = _submitted_script(run_cli("run", "--slurm", "--only", "04", "06", "--gpus-per-task", "0",
                                       "--profile", "smoke", "--time", "01:00:00", "--reports", reports))
    submitted = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, env=slurm_cluster)
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip().split(";")[0]
    deadline = time.monotonic() + ARRAY_TIMEOUT_S
    while subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True, env=slurm_cluster).stdout.strip():
        assert time.monotonic() < deadline, f"job array {job} still queued or running"
        time.sleep(5)
    took = time.monotonic() - started
    logs = sorted((reports / "slurm").glob(f"{job}_*.log"))
    assert [log.name for log in logs] == [f"{job}_0.log", f"{job}_1.log"], "one log per array task"
    summary = run_cli("summary", reports)
    assert summary.returncode == 0, summary.stderr
    text = (reports / "summary.md").read_text()
    print(f"job array {job}: 2 tasks, {took:.0f} s from submission to summary\n{text}")
    for name in ("04_vit_food101", "06_nano_transformer"):
        outcome = json.loads((reports / name / "outcome.json").read_text())
        assert outcome["status"] == "ok", f"{name}: {outcome['error']}\n" + "\n".join(log.read_text()[-2000:] for log in logs)
        assert json.loads((reports / name / "results.json").read_text())["profile"] == "smoke"
        assert re.search(rf"\| {name} \| ok \|", text)


@pytest.mark.slow
def test_the_array_script_names_one_task_per_notebook_and_asks_for_gpus(tmp_path):
    for name in ("01_first", "02_second"):
        write_notebook(tmp_path / "notebooks", name, "print('hello')")
    script = _submitted_script(run_cli("run", "--slurm", "--notebooks", tmp_path / "notebooks", "--partition", "gpu",
                                       "--time", "00:30:00", "--reports", tmp_path / "reports")).read_text()
    assert "#SBATCH --array=0-1" in script and "#SBATCH --gres=gpu:1" in script
    assert "#SBATCH --partition=gpu" in script and "#SBATCH --time=00:30:00" in script
    assert f"#SBATCH --output={tmp_path / 'reports' / 'slurm'}/%A_%a.log" in script
    tasks = json.loads((tmp_path / "reports" / "slurm" / slurm.TASKS_NAME).read_text())
    assert [Path(t["output_dir"]).name for t in tasks] == ["01_first", "02_second"]
    cpu_only = run_cli("run", "--slurm", "--notebooks", tmp_path / "notebooks", "--gpus-per-task", "0", "--pdf",
                       "--pdf-no-code", "--reports", tmp_path / "cpu")
    assert "--gres" not in _submitted_script(cpu_only).read_text()
    tasks = json.loads((tmp_path / "cpu" / "slurm" / slurm.TASKS_NAME).read_text())
    assert all(t["pdf_with"] == "chromium" and t["pdf_no_code"] for t in tasks), "each node finds its own Chromium"


@pytest.mark.notebook
def test_the_array_script_runs_task_by_task_without_slurm(tmp_path):
    """What a Slurm node does with the script, done here: each array task in turn, ``SLURM_ARRAY_TASK_ID`` set."""
    write_notebook(tmp_path / "notebooks", "01_passes", "print('task ran')")
    write_notebook(tmp_path / "notebooks", "02_fails", "raise ValueError('boom')")
    reports = tmp_path / "reports"
    script = _submitted_script(run_cli("run", "--slurm", "--notebooks", tmp_path / "notebooks", "--gpus-per-task", "0",
                                       "--reports", reports))
    statuses = [subprocess.run(["bash", str(script)], env={**os.environ, "SLURM_ARRAY_TASK_ID": str(task)},
                               capture_output=True, text=True).returncode for task in (0, 1)]
    assert statuses == [0, 1], "a task's exit status is its notebook's"
    without_id = subprocess.run(["bash", str(script)], env={k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"},
                                capture_output=True, text=True)
    assert without_id.returncode != 0 and "run this script with sbatch, or set SLURM_ARRAY_TASK_ID" in without_id.stderr
    assert run_cli("summary", reports).returncode == 0
    summary = (reports / "summary.md").read_text()
    assert re.search(r"\| 01_passes \| ok \|", summary) and re.search(r"\| 02_fails \| FAILED \|", summary)
    assert "raised ValueError: boom" in summary
