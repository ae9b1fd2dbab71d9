"""A child process (a node, a load generator) whose output is appended to a log file, so the log
of every run of it survives kill -9 and restarts."""

import os
import signal
import subprocess


class Process:
    def __init__(self, log_path):
        self.log_path = log_path
        self.popen = None
        self.paused = False

    def start(self, command, env=None, new_session=False):
        """Runs `command`; `new_session` puts it in a session of its own (the chaos lab's nodes, so
        signals to the harness do not reach them)."""
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=new_session)
        self.paused = False

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    @property
    def running(self):
        return self.popen is not None and self.popen.poll() is None

    def signal(self, number):
        if self.running:
            os.kill(self.popen.pid, number)

    def kill(self):
        """kill -9, and waits until it is gone (a kill of a process that is not running does nothing)."""
        self.signal(signal.SIGKILL)
        self.wait()

    def pause(self):
        self.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self.signal(signal.SIGCONT)
        self.paused = False

    def wait(self, timeout=None):
        if self.popen:
            self.popen.wait(timeout=timeout)

    def stop(self, timeout=15):
        """SIGTERM and a wait, then kill -9 if it has not exited within `timeout` seconds."""
        if not self.running:
            return
        if self.paused:
            self.resume()
        self.signal(signal.SIGTERM)
        try:
            self.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
