"""alice_common.mongo_backup against the real Mongo-protocol server: a dump in mongodump's `--gzip
--out` layout restores every document (byte for byte) and index, `--drop` replaces what is there,
and a damaged dump is refused (docs/operations.md, "How to back up and restore")."""

import datetime
import gzip
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import bson
import pytest
from alice_common import mongo_backup
from pymongo import MongoClient

pytestmark = pytest.mark.integration


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def databases(infra, unique_name):
    client = MongoClient(infra.mongodb_url, serverSelectionTimeoutMS=5000)
    names = [unique_name("dump"), unique_name("restore")]
    yield client, [with_database(infra.mongodb_url, n) for n in names], names
    for name in names:
        client.drop_database(name)
    client.close()


def raw_documents(client: MongoClient, db: str, collection: str) -> list[bytes]:
    found = client[db].get_collection(collection, codec_options=mongo_backup.RAW).find({})
    return sorted(d.raw for d in found)


def test_a_dump_restores_every_document_and_index(databases, tmp_path: Path, capsys) -> None:
    client, (source_uri, target_uri), (source, target) = databases
    users = client[source]["users"]
    users.create_index("email_lower", unique=True, name="email_lower_1")
    users.insert_many(
        [
            {
                "_id": f"u{i}",
                "email_lower": f"u{i}@example.com",
                "created": datetime.datetime(2026, 12, 6) + datetime.timedelta(minutes=i),
            }
            for i in range(2500)  # more than one insert batch
        ]
    )
    client[source]["uploads.chunks"].insert_one({"_id": "c1", "data": bson.Binary(bytes(range(256)) * 40)})
    client[source]["messages"].insert_one({"_id": "m1", "nested": {"list": [1, 2.5, None, "x"]}})

    assert mongo_backup.main(["dump", f"--uri={source_uri}", "--gzip", f"--out={tmp_path}"]) == 0
    assert "dumped users: 2500 documents" in capsys.readouterr().out
    # mongodump's --gzip --out layout: <out>/<db>/<collection>.bson.gz and .metadata.json.gz.
    files = sorted(p.name for p in (tmp_path / source).iterdir())
    assert files == sorted(
        f"{c}.{kind}.gz"
        for c in ("messages", "uploads.chunks", "users")
        for kind in ("bson", "metadata.json")
    )
    first = next(bson.decode_file_iter(gzip.open(tmp_path / source / "users.bson.gz")))
    assert first["email_lower"].endswith("@example.com")

    client[target]["users"].insert_one({"_id": "stale", "email_lower": "stale@example.com"})
    dump_dir = f"--dir={tmp_path / source}"
    assert mongo_backup.main(["restore", f"--uri={target_uri}", "--gzip", "--drop", dump_dir]) == 0
    for collection in ("users", "uploads.chunks", "messages"):
        assert raw_documents(client, target, collection) == raw_documents(client, source, collection)
    indexes = {i["name"]: i for i in client[target]["users"].list_indexes()}
    assert indexes["email_lower_1"]["unique"] is True
    assert dict(indexes["email_lower_1"]["key"]) == {"email_lower": 1}


def test_a_damaged_dump_is_refused(databases, tmp_path: Path) -> None:
    client, (source_uri, _), (source, _) = databases
    client[source]["users"].insert_many([{"_id": f"u{i}", "pad": "x" * 200} for i in range(50)])
    mongo_backup.dump(source_uri, tmp_path, compressed=False, read_preference=None)
    data = tmp_path / source / "users.bson"
    data.write_bytes(data.read_bytes()[:-100])  # cut off mid-document
    with pytest.raises(bson.errors.InvalidBSON):
        mongo_backup.verify(tmp_path / source, compressed=False)
