"""Inputs in, results out: put a file or a folder where a job can read it, and fetch a job's results.

    fragment = upload(s3, "sp-demo-fo-jobs-...", Path("orders.csv"))
    # {"type": "csv", "bucket": "sp-demo-fo-jobs-...", "key": "inputs/3f2a.../orders.csv"}
    spec = {"source": {**fragment, "items_per_subtask": 2000}, "workload": "csv_totals"}
    ...
    download_results(s3, bucket, "results/<job>/manifest.json", Path("results/<job>"))

Inputs go under `inputs/` of the stack's bucket, never under `incoming/`:
an object there starts a job with the stack's default workload. Each upload
has a key of its own, named by its content (a file's SHA-256, a folder's
digest over its files' names and contents), so no running job's input is
ever overwritten and a folder's prefix holds exactly that folder's files.

A job's results are under `results/<job>/` of the bucket: manifest.json (the
outcome, counts, failures and the files below), succeeded/shard-NNNN.jsonl
(each subtask's item or range and its result), failed/shard-NNNN.jsonl (its
item and last error) and result.json (the merged result, for a workload with
a merge). A download writes them into a folder in the same layout, the
manifest last, as the consolidator does: once it is there, so is everything
it names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

INPUTS_PREFIX = "inputs"
MANIFEST_NAME = "manifest.json"
RESULT_NAME = "result.json"
OUTCOME_FOLDERS = ("succeeded", "failed")
# A file's source type when none is given: records for JSON Lines and CSV, lines of text otherwise.
SOURCE_TYPE_BY_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
FILE_SOURCE_TYPES = ("lines", "bytes", "jsonl", "csv")
UPLOAD_THREADS = 8


class TransferError(ValueError):
    """An input that cannot be uploaded, or results that cannot be written: says which and the fix."""


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def input_key(path: Path) -> str:
    """Where a file is uploaded: named by its content, so no job's input is ever overwritten."""
    return f"{INPUTS_PREFIX}/{_file_digest(path)[:32]}/{path.name}"


def folder_files(folder: Path) -> list[Path]:
    """The files a folder upload sends, sorted: hidden files and folders (.git, .DS_Store) are left out."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def folder_prefix(folder: Path, files: list[Path]) -> str:
    """Where a folder is uploaded: inputs/<digest of its files' names and contents>/<folder name>/."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(folder).as_posix()}\0{_file_digest(path)}\n".encode())
    return f"{INPUTS_PREFIX}/{digest.hexdigest()[:32]}/{folder.name}/"


def file_source_type(path: Path) -> str:
    return SOURCE_TYPE_BY_SUFFIX.get(path.suffix.lower(), "lines")


def upload(s3: Any, bucket: str, path: Path, source_type: str | None = None) -> dict[str, str]:
    """Upload a file or a folder to the bucket's inputs/; the job spec's `source` for it (add the cut to it).

    A file: {"type": source_type or its suffix's (.jsonl: jsonl, .csv: csv, else lines), "bucket", "key"}.
    A folder: {"type": "objects", "bucket", "prefix"}, every file under it (hidden ones left out) one object.
    """
    if path.is_file():
        kind = source_type or file_source_type(path)
        if kind not in FILE_SOURCE_TYPES:
            raise TransferError(f"--type {kind} does not read a file: use one of {', '.join(FILE_SOURCE_TYPES)}")
        key = input_key(path)
        s3.upload_file(str(path), bucket, key)
        return {"type": kind, "bucket": bucket, "key": key}
    if path.is_dir():
        if source_type not in (None, "objects"):
            raise TransferError(
                f"{path} is a folder, uploaded as an `objects` prefix: leave out --type {source_type}, or give one file"
            )
        files = folder_files(path)
        if not files:
            raise TransferError(f"{path} holds no files to upload (hidden ones are left out): give a folder with some")
        prefix = folder_prefix(path, files)
        with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
            # list() so the first failed upload raises here.
            list(
                pool.map(
                    lambda file: s3.upload_file(str(file), bucket, prefix + file.relative_to(path).as_posix()), files
                )
            )
        return {"type": "objects", "bucket": bucket, "prefix": prefix}
    raise TransferError(f"{path} does not exist: give a file or a folder to upload")


def _result_keys(manifest_key: str, manifest: dict[str, Any]) -> Iterator[str]:
    """The keys a manifest names: its succeeded/ and failed/ files, and the merged result when there is one."""
    for outcome in OUTCOME_FOLDERS:
        for file in manifest.get("files", {}).get(outcome, []):
            yield file["key"]
    if "result_key" in manifest:
        yield manifest["result_key"]


def _local_path(folder: Path, results_prefix: str, key: str) -> Path:
    """Where an object of the job's results goes in the folder; refuses a key outside results/<job>/."""
    relative = PurePosixPath(key.removeprefix(results_prefix))
    if not key.startswith(results_prefix) or ".." in relative.parts or relative.is_absolute():
        raise TransferError(f"the manifest names {key}, which is not under {results_prefix}: not downloaded")
    return folder.joinpath(*relative.parts)


def _forget_earlier_download(folder: Path, job_id: str) -> None:
    """A folder holding an earlier download of the same job loses its files first, so a redriven job's
    folder holds only what its latest manifest names; any other folder is never emptied."""
    earlier = folder / MANIFEST_NAME
    try:
        same_job = json.loads(earlier.read_text()).get("job_id") == job_id
    except (OSError, ValueError, AttributeError):
        return
    if not same_job:
        return
    earlier.unlink()
    (folder / RESULT_NAME).unlink(missing_ok=True)
    for outcome in OUTCOME_FOLDERS:
        for stale in (folder / outcome).glob("shard-*.jsonl"):
            stale.unlink()


def download_results(s3: Any, bucket: str, manifest_key: str, folder: Path) -> list[Path]:
    """Write a finished job's manifest, succeeded/ and failed/ JSON Lines and merged result into `folder`,
    in the layout of results/<job>/; the files written, the manifest last."""
    results_prefix = manifest_key.rsplit("/", 1)[0] + "/"
    body = s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read()
    manifest = json.loads(body)
    if folder.exists() and not folder.is_dir():
        raise TransferError(f"{folder} is a file: give --to a folder (it is created if missing)")
    targets = [(key, _local_path(folder, results_prefix, key)) for key in _result_keys(manifest_key, manifest)]
    _forget_earlier_download(folder, manifest.get("job_id", ""))
    written = []
    for key, target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        written.append(target)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST_NAME).write_bytes(body)
    return [*written, folder / MANIFEST_NAME]
