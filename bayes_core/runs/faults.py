"""Faults of the run store's folders, in words: a runs folder that cannot be listed (a file where a
folder belongs, no permission) and a run that could not be written (its staging folder removed while
it was written, a full disk, a read-only folder). Each message says what to do.
"""

from __future__ import annotations

import errno
from pathlib import Path

from bayes_core.errors import RunStoreError


def runs_folder_error(model_id: str, folder: Path, exc: OSError) -> RunStoreError:
    """What to do when the runs folder of a model cannot be listed or written."""
    if exc.errno == errno.ENOTDIR:
        blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        return RunStoreError(f"The runs of {model_id!r} cannot be read: {blocking} is a file where a folder belongs. "
                             "Move the file aside, or set BAYES_ARTIFACTS_DIR to another folder.")
    return RunStoreError(f"The runs of {model_id!r} in {folder} cannot be read ({exc.strerror or exc}): make the "
                         "folder readable by this user, or set BAYES_ARTIFACTS_DIR to another folder.")


def written_there(exc: Exception, tmp: Path) -> bool:
    """An OSError of writing the run itself (not, say, of reading the training data during the fit)."""
    if not isinstance(exc, OSError):
        return False
    if exc.errno == errno.ENOSPC:
        return True
    return exc.filename is not None and str(tmp) in str(exc.filename)


def staging_error(model_id: str, tmp: Path, exc: Exception, gone: bool) -> RunStoreError:
    """Why a run could not be written, and what to do; nothing of it is left."""
    if gone:
        what = (f"its staging folder {tmp} disappeared while it was being written (deleted by another program "
                "or person?)")
    elif getattr(exc, "errno", None) == errno.ENOSPC:
        what = f"the disk holding {tmp.parent} is full"
    elif getattr(exc, "errno", None) in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = f"{tmp.parent} cannot be written ({exc.strerror})"
    else:
        what = f"writing it failed ({getattr(exc, 'strerror', None) or exc})"
    return RunStoreError(f"The run of {model_id!r} was not saved: {what}. Nothing of it was kept; fix that and "
                         "train again.")
