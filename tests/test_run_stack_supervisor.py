"""`make run`'s supervisor: a child that exits is started again, after a backoff that grows while it
keeps dying and resets once it ran long enough; every exit and restart is logged."""

from erp_aftersales.management.commands import run_stack
from erp_aftersales.management.commands.run_stack import Supervisor


class FakeChild:
    """A started child: running until the test makes it exit."""

    pids = iter(range(1000, 2000))

    def __init__(self, name):
        self.name, self.pid, self.returncode = name, next(self.pids), None

    def poll(self):
        return self.returncode

    def exit(self, code=1):
        self.returncode = code


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def supervised(*names):
    clock, started, log, killed = Clock(), [], [], []

    def start(name):
        started.append(FakeChild(name))
        return started[-1]

    supervisor = Supervisor(start, list(names), log=log.append, clock=clock, kill_group=killed.append)
    return supervisor, clock, started, log, killed


def test_a_dead_child_is_started_again_after_a_delay_and_the_others_keep_running():
    supervisor, clock, started, log, killed = supervised("web", "worker")
    web, worker = started
    worker.exit(1)
    supervisor.check()
    assert log == ["worker 已退出（退出码 1），1 秒后重启"]
    assert killed == [worker.pid]  # its leftover pool processes go with it
    assert len(started) == 2  # not at once

    clock.now += run_stack.RESTART_DELAY
    supervisor.check()
    assert [c.name for c in started] == ["web", "worker", "worker"]
    assert log[-1] == "正在重启 worker（第 1 次）"
    assert web.poll() is None and supervisor.processes["web"] is web
    assert supervisor.processes["worker"] is started[-1]
    assert set(supervisor.running()) == {web, started[-1]}


def test_a_child_that_keeps_dying_waits_longer_each_time_up_to_the_cap_and_never_spins():
    supervisor, clock, started, log, _ = supervised("worker")
    waits = []
    for _ in range(10):
        supervisor.processes["worker"].exit(1)
        supervisor.check()
        waits.append(supervisor.restart_at["worker"] - clock.now)
        # Checked every half second until it is due: only one start per wait.
        before = len(started)
        while len(started) == before:
            clock.now += 0.5
            supervisor.check()
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert len(started) == 11


def test_a_child_that_ran_long_enough_is_restarted_quickly_again():
    supervisor, clock, started, log, _ = supervised("worker")
    for _ in range(4):  # four quick deaths: the next wait would be 16 s
        supervisor.processes["worker"].exit(1)
        supervisor.check()
        clock.now = supervisor.restart_at["worker"]
        supervisor.check()
    clock.now += run_stack.STABLE_AFTER  # then it ran fine for a minute
    supervisor.processes["worker"].exit(-9)
    supervisor.check()
    assert log[-1] == "worker 已退出（退出码 -9），1 秒后重启"


def test_a_child_waiting_for_its_restart_is_not_among_those_to_stop():
    supervisor, clock, started, log, _ = supervised("web", "sandbox")
    started[1].exit(0)
    supervisor.check()
    assert supervisor.running() == [started[0]]
