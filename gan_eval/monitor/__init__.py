"""Training-loop monitoring: gradient norms, discriminator outputs, periodic metrics, alarms and plots.

`Monitor` is the entry point (see `gan_eval.monitor.monitor`); `read_run` reads
a run folder's record; `gan-eval plot RUN_DIR` draws it. The Lightning
adapter lives in `gan_eval.monitor.lightning` (it needs `lightning`).
"""

from gan_eval.monitor.alarms import Alarm, AlarmRules
from gan_eval.monitor.events import RunRecord, read_run
from gan_eval.monitor.monitor import Monitor

__all__ = ["Alarm", "AlarmRules", "Monitor", "RunRecord", "read_run"]
