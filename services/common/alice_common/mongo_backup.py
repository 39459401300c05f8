"""Dump and restore a database in `mongodump --out` / `mongorestore --dir` layout, through the
wire protocol only: where MongoDB's own tools cannot be had (FerretDB stands in for MongoDB), this
writes and reads the same files, so either tool restores the other's dump (docs/operations.md,
"How to back up and restore").

    python -m alice_common.mongo_backup dump --uri=URI [--gzip] --out=DIR
        DIR/<db>/<collection>.bson[.gz]           the documents, concatenated BSON, as stored
        DIR/<db>/<collection>.metadata.json[.gz]  its indexes (Extended JSON, as mongodump writes)
    python -m alice_common.mongo_backup restore --uri=URI [--gzip] [--drop] --dir=DIR/<db>

The database is the one the URI names (as mongodump and mongorestore take it from `--uri`).
Memory stays bounded: documents are streamed, and inserted in batches of at most BATCH_BYTES.
"""

import argparse
import gzip
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import bson
from bson import json_util
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import IndexModel, MongoClient
from pymongo.uri_parser import parse_uri

BATCH_BYTES = 8 * 1024 * 1024
BATCH_DOCUMENTS = 1000
RAW = CodecOptions(document_class=RawBSONDocument)
# Index fields that describe the index rather than configure it.
INDEX_IDENTITY = {"v", "key", "ns"}


def _database(uri: str, client: MongoClient):
    name = parse_uri(uri)["database"]
    if not name:
        raise SystemExit("the URI names no database (mongodb://host/<database>)")
    return client.get_database(name, codec_options=RAW)


def _open(path: Path, mode: str, compressed: bool) -> IO[bytes]:
    return gzip.open(path, mode) if compressed else path.open(mode)


def _suffix(compressed: bool) -> str:
    return ".gz" if compressed else ""


def dump(uri: str, out: Path, compressed: bool, read_preference: str | None) -> dict[str, int]:
    """Writes every collection of the URI's database under out/<db>/; returns documents per collection."""
    options = {"readPreference": read_preference} if read_preference else {}
    counts = {}
    with MongoClient(uri, **options) as client:
        db = _database(uri, client)
        target = out / db.name
        target.mkdir(parents=True, exist_ok=True)
        for name in sorted(db.list_collection_names()):
            if name.startswith("system."):
                continue
            collection = db[name]
            count = 0
            with _open(target / f"{name}.bson{_suffix(compressed)}", "wb", compressed) as data:
                for document in collection.find({}, sort=[("_id", 1)]):
                    data.write(document.raw)
                    count += 1
            indexes = [json_util.loads(json_util.dumps(index)) for index in collection.list_indexes()]
            metadata = {"indexes": indexes, "collectionName": name, "type": "collection", "options": {}}
            text = json_util.dumps(metadata, json_options=json_util.CANONICAL_JSON_OPTIONS)
            with _open(target / f"{name}.metadata.json{_suffix(compressed)}", "wb", compressed) as meta:
                meta.write(text.encode())
            counts[name] = count
    return counts


def _documents(path: Path, compressed: bool) -> Iterator[RawBSONDocument]:
    with _open(path, "rb", compressed) as data:
        yield from bson.decode_file_iter(data, codec_options=RAW)


def _batches(documents: Iterator[RawBSONDocument]) -> Iterator[list[RawBSONDocument]]:
    batch, size = [], 0
    for document in documents:
        if batch and (size + len(document.raw) > BATCH_BYTES or len(batch) >= BATCH_DOCUMENTS):
            yield batch
            batch, size = [], 0
        batch.append(document)
        size += len(document.raw)
    if batch:
        yield batch


def collections_in(directory: Path, compressed: bool) -> list[str]:
    suffix = f".bson{_suffix(compressed)}"
    return sorted(p.name[: -len(suffix)] for p in directory.glob(f"*{suffix}"))


def verify(directory: Path, compressed: bool) -> dict[str, int]:
    """Decodes every document of a dump (a truncated or corrupt file raises); documents per collection."""
    counts = {}
    for name in collections_in(directory, compressed):
        counts[name] = sum(1 for _ in _documents(directory / f"{name}.bson{_suffix(compressed)}", compressed))
        metadata = directory / f"{name}.metadata.json{_suffix(compressed)}"
        with _open(metadata, "rb", compressed) as meta:
            json_util.loads(meta.read())
    return counts


def restore(uri: str, directory: Path, compressed: bool, drop: bool) -> dict[str, int]:
    """Loads directory/<collection>.bson[.gz] into the URI's database; returns documents per collection."""
    names = collections_in(directory, compressed)
    if not names:
        raise SystemExit(f"no <collection>.bson{_suffix(compressed)} files in {directory}")
    counts = {}
    with MongoClient(uri) as client:
        db = _database(uri, client)
        for name in names:
            collection = db[name]
            if drop:
                collection.drop()
            count = 0
            for batch in _batches(_documents(directory / f"{name}.bson{_suffix(compressed)}", compressed)):
                collection.insert_many(batch, ordered=True)
                count += len(batch)
            metadata_path = directory / f"{name}.metadata.json{_suffix(compressed)}"
            if metadata_path.exists():
                with _open(metadata_path, "rb", compressed) as meta:
                    metadata = json_util.loads(meta.read())
                models = [
                    IndexModel(
                        list(index["key"].items()),
                        **{k: v for k, v in index.items() if k not in INDEX_IDENTITY},
                    )
                    for index in metadata.get("indexes", [])
                    if index.get("name") != "_id_"
                ]
                if models:
                    collection.create_indexes(models)
            counts[name] = count
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m alice_common.mongo_backup", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("dump", "restore"):
        sub = commands.add_parser(command)
        sub.add_argument("--uri", required=True)
        sub.add_argument("--gzip", action="store_true", help="gzip each file, as mongodump --gzip")
    commands.choices["dump"].add_argument("--out", required=True, type=Path)
    commands.choices["dump"].add_argument("--readPreference", dest="read_preference")
    commands.choices["restore"].add_argument("--dir", required=True, type=Path)
    commands.choices["restore"].add_argument("--drop", action="store_true", help="drop each collection first")
    args = parser.parse_args(argv)
    if args.command == "dump":
        counts = dump(args.uri, args.out, args.gzip, args.read_preference)
        database = parse_uri(args.uri)["database"]
        # Read back: a dump that cannot be decoded fails the Job instead of being kept.
        if verify(args.out / database, args.gzip) != counts:
            print("the dump does not read back as written", file=sys.stderr)
            return 1
        verb = "dumped"
    else:
        counts = restore(args.uri, args.dir, args.gzip, args.drop)
        verb = "restored"
    for name, count in counts.items():
        print(f"{verb} {name}: {count} documents")
    return 0


if __name__ == "__main__":
    sys.exit(main())
