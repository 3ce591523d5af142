"""Sweeps: a base experiment, one or two configuration keys with lists of values, and a budget per cell.

Every cell is an ordinary run (its own run directory under the sweep directory, made by TrainingSession), so the
run history lists it too. ``sweep.json`` records the grid and each cell's status; resuming a sweep never runs a
finished (or failed) cell again, and a cell that was interrupted is run again from scratch in a fresh run
directory (its partial one is deleted). Cells run one after another in this process (one worker), or on Dask
distributed (tui.core.cluster): an embedded local cluster of worker processes, each pinned to its share of the CPU
threads, or an existing cluster the user started (`--scheduler`).
"""


from tui.core.cluster import (_best_accuracy, _cell_result, _release_cell, _start_resource_tracker,
                              available_cores)
from tui.core.sweep.grid import (MAX_CELLS, Axis, SweepSpec, make_spec, parse_grid_option,
                                 parse_values, read_preset_sweep)
from tui.core.sweep.runner import (GIVE_UP_AFTER, PARALLEL_MIN_CORES, SweepRunner, auto_workers,
                                   cell_name)
from tui.core.sweep.state import (DONE, STATE_FILE, Cell, Listener, SweepProgress, SweepState,
                                  _fmt_value, export, list_sweeps, load_state, to_csv, to_markdown)

__all__ = ["MAX_CELLS", "Axis", "SweepSpec", "make_spec", "parse_grid_option", "parse_values", "read_preset_sweep",
           "GIVE_UP_AFTER", "PARALLEL_MIN_CORES", "SweepRunner", "auto_workers", "cell_name", "DONE", "STATE_FILE",
           "Cell", "Listener", "SweepProgress", "SweepState", "_fmt_value", "export", "list_sweeps", "load_state",
           "to_csv", "to_markdown", "available_cores", "_best_accuracy", "_cell_result", "_release_cell",
           "_start_resource_tracker"]
