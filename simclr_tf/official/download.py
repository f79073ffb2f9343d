"""Downloading a published checkpoint by name into a local cache, over HTTPS.

The authors' buckets are public: the Cloud Storage JSON API lists a release's objects
(`GET {endpoint}/storage/v1/b/BUCKET/o?prefix=PREFIX`, with each object's size and MD5) and
serves each one (`GET {endpoint}/download/storage/v1/b/BUCKET/o/NAME?alt=media`), so neither
gsutil nor credentials are needed. Each file goes to `NAME.part` first: an interrupted transfer
resumes from where it stopped (an HTTP Range request, a few attempts per run, and again on the
next run), a finished one is checked against the listing's size and MD5 before it takes its
name, and a release whose files all arrived gets a `.complete.json`, after which it loads
offline without asking the network.

The cache: `cache_dir`, else `$SIMCLR_TF_CACHE`, else Keras' cache (`$KERAS_HOME`, default
`~/.keras`) under `simclr_tf/`. The endpoint: `$SIMCLR_TF_GCS_ENDPOINT` (a mirror, the tests'
loopback server), default https://storage.googleapis.com.
"""

import base64
import hashlib
import http.client
import json
import os
import posixpath
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import keras
from absl import logging

DEFAULT_ENDPOINT = "https://storage.googleapis.com"
ENDPOINT_ENV = "SIMCLR_TF_GCS_ENDPOINT"
CACHE_ENV = "SIMCLR_TF_CACHE"
COMPLETE = ".complete.json"
CHUNK = 1 << 20
ATTEMPTS = 3  # per file and run: a dropped connection resumes this many times
MAX_PAGES = 10_000  # of the listing, 1,000 objects each: a bound, never reached by a release
TIMEOUT = 60  # seconds without data before a read fails
# TF1 folders also hold the graph (graph.pbtxt, .meta), a hub/ copy of the same weights and a
# `checkpoint` file whose paths point into the bucket: the loader needs only the tensors.
_TF1_FILES = (".index", ".data-")


def cache_root(cache_dir=None):
    """The cache folder (see the module doc)."""
    if cache_dir:
        return os.fspath(cache_dir)
    if os.environ.get(CACHE_ENV):
        return os.environ[CACHE_ENV]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "simclr_tf")


def download(release, cache_dir=None, endpoint=None, progress=True):
    """The local folder holding `release` (a `releases.Release`), downloaded when needed.

    Returns at once, without the network, when the cache holds a complete copy.

    Raises:
        ConnectionError: the listing could not be fetched (and nothing is cached), or a file's
            transfer kept failing (its `.part` is kept for the next run to resume).
        ValueError: the listing has no files for the release, or a file's size or MD5 differs
            from the listing's (the file is deleted).
    """
    folder = os.path.join(cache_root(cache_dir), *release.name.split("/"))
    if os.path.exists(os.path.join(folder, COMPLETE)):
        return _inside(folder, release)
    endpoint = (endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).rstrip("/")
    items = _wanted(list_objects(endpoint, release.bucket, release.prefix), release)
    if not items:
        raise ValueError(
            f"gs://{release.bucket}/{release.prefix} lists no checkpoint files for "
            f"{release.name!r} (via {endpoint})."
        )
    total = sum(int(item["size"]) for item in items)
    logging.info("Downloading %s: %d files, %.1f MB, into %s", release.name, len(items),
                 total / 1e6, folder)
    bar = _progress_bar(total) if progress else None
    for item in items:
        relative = item["name"][len(release.prefix):] or posixpath.basename(item["name"])
        target = os.path.join(folder, *relative.split("/"))
        fetch(endpoint, release.bucket, item, target, bar)
    if release.format == "zip":
        extract_zip(os.path.join(folder, posixpath.basename(release.prefix)), folder)
    with open(os.path.join(folder, COMPLETE), "w") as f:
        json.dump({"release": release.name, "files": items}, f, indent=1)
    return _inside(folder, release)


def extract_zip(path, folder):
    """Extracts a zip (the SimCLRv1 downloads) into `folder`; returns the folder its files
    share (e.g. `folder/ResNet50_1x`), or `folder`. Members that would land outside `folder`
    are refused."""
    root = os.path.realpath(folder)
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            for name in names:
                if not os.path.realpath(os.path.join(root, name)).startswith(root + os.sep):
                    raise ValueError(f"{path}: the member {name!r} would land outside {folder}.")
            archive.extractall(root)
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path} is not a readable zip file ({e}).") from e
    tops = {n.split("/")[0] for n in names if n.strip("/")}
    if len(tops) == 1 and os.path.isdir(os.path.join(root, *tops)):
        return os.path.join(folder, *tops)
    return folder


def _inside(folder, release):
    """The folder to load: for a zip, the folder its files share."""
    if release.format != "zip":
        return folder
    dirs = [d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d))]
    return os.path.join(folder, dirs[0]) if len(dirs) == 1 else folder


def list_objects(endpoint, bucket, prefix):
    """Every object under `prefix`: dicts with name, size and (when listed) md5Hash."""
    items, token = [], None
    for _ in range(MAX_PAGES):
        query = {"prefix": prefix, "fields": "items(name,size,md5Hash),nextPageToken"}
        if token:
            query["pageToken"] = token
        url = f"{endpoint}/storage/v1/b/{bucket}/o?{urllib.parse.urlencode(query)}"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
                page = json.load(response)
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise ConnectionError(
                f"Could not list gs://{bucket}/{prefix} at {endpoint} ({type(e).__name__}: "
                f"{e}), and the cache has no complete copy. Connect to the network once (the "
                f"files are then cached), or set {ENDPOINT_ENV} to a reachable mirror."
            ) from e
        items += page.get("items", [])
        token = page.get("nextPageToken")
        if not token:
            return items
    raise ConnectionError(
        f"The listing of gs://{bucket}/{prefix} did not end after {MAX_PAGES} pages."
    )


def fetch(endpoint, bucket, item, target, bar=None):
    """Downloads one listed object to `target`, resuming a `.part`, checking size and MD5."""
    name, size = item["name"], int(item["size"])
    if os.path.exists(target) and os.path.getsize(target) == size and _check_md5(target, item)[0]:
        _advance(bar, size)
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    part = target + ".part"
    if not os.path.exists(part):
        open(part, "wb").close()  # an empty object needs no transfer, but a file
    have = os.path.getsize(part)
    if have > size:
        have = 0
    _advance(bar, have)
    quoted = urllib.parse.quote(name, safe="")
    url = f"{endpoint}/download/storage/v1/b/{bucket}/o/{quoted}?alt=media"
    error = None
    for _ in range(ATTEMPTS):
        if have == size:
            break
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                if have and response.status != 206:  # the server sent the whole file again
                    _advance(bar, -have)
                    have = 0
                with open(part, "ab" if have else "wb") as f:
                    while have < size:
                        chunk = response.read(min(CHUNK, size - have))
                        if not chunk:
                            break
                        f.write(chunk)
                        have += len(chunk)
                        _advance(bar, len(chunk))
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            error = e
            have = os.path.getsize(part) if os.path.exists(part) else 0
    if have != size:
        raise ConnectionError(
            f"gs://{bucket}/{name}: the transfer stopped at {have:,} of {size:,} bytes after "
            f"{ATTEMPTS} attempts (last error: {error!r}). {part} is kept: run again to resume."
        )
    ok, got = _check_md5(part, item)
    if not ok:
        os.remove(part)
        raise ValueError(
            f"gs://{bucket}/{name}: checksum mismatch: the listing says MD5 "
            f"{item['md5Hash']}, the downloaded file has {got}. The file was deleted; run "
            "again to download it afresh."
        )
    os.replace(part, target)


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode()


def _check_md5(path, item):
    """(matches, the file's MD5): against the listing's MD5 (base64, as the JSON API gives
    it). Objects composed from parts have none listed: only their size is checked then."""
    expected = item.get("md5Hash")
    if not expected:
        logging.warning("%s: the listing gives no MD5; only its size was checked.", item["name"])
        return True, None
    got = _md5(path)
    return got == expected, got


def _wanted(items, release):
    if release.format == "zip":
        return [i for i in items if i["name"] == release.prefix]
    if release.format != "tf1":
        return [i for i in items if not i["name"].endswith("/")]
    rest = [i["name"][len(release.prefix):] for i in items]
    return [i for i, r in zip(items, rest) if "/" not in r and any(s in r for s in _TF1_FILES)]


def _progress_bar(total):
    return keras.utils.Progbar(total, unit_name="B")


def _advance(bar, count):
    if bar is not None and count:
        bar.add(count)
