"""A stand-in training entry point for the orphan tests: starts a grandchild, records both pids
in the file named by ``SLEEPY_PIDS``, then sleeps (as a long training would)."""

import os
import subprocess
import sys
import time

grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open(os.environ["SLEEPY_PIDS"] + ".tmp", "w") as handle:
    handle.write(f"{os.getpid()} {grandchild.pid}\n")
os.replace(os.environ["SLEEPY_PIDS"] + ".tmp", os.environ["SLEEPY_PIDS"])
time.sleep(300)
