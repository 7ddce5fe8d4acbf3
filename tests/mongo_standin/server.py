#!/usr/bin/env python3
"""A MongoDB wire-protocol stand-in for tests: mockupdb receives every command the real Rust
driver sends, mongomock gives them MongoDB semantics (queries, sorts, replacement upserts,
unique and TTL indexes). Memory only; for correctness tests, never for benchmarks.

mockupdb answers one request at a time, and mongomock enforces a unique index and expires a TTL
index by scanning the whole collection on every insert: quadratic, so a long test starved the
driver's heartbeats behind a queue of inserts. The stand-in therefore keeps both kinds of index
itself: a document of a collection with a unique index gets `_id` = its unique key (mongomock's
own O(1) `_id` check is then the unique check, and a replacement upsert on exactly that key
finds its document by `_id`), and TTL indexes are applied before each `find`, as documents
expired on a real server are gone by the time they are read.

Usage: server.py [--port N]   prints "PORT <n>" once listening on 127.0.0.1.
Signals: SIGUSR1 takes the server "down" (every request is answered by hanging up, as a
stopped server would look to the driver); SIGUSR2 brings it back with its data. SIGTERM stops.
"""

import argparse
import datetime
import signal
import sys
import threading

import mockupdb
import mongomock
from bson import Int64
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.son import SON
from pymongo.errors import DuplicateKeyError

# Dates beyond Python's datetime range (a query bound of year 292278994) are clamped rather
# than failing the decode, which would kill the connection's thread without an answer.
mockupdb.CODEC_OPTIONS = CodecOptions(
    document_class=mockupdb.OrderedDict, datetime_conversion=DatetimeConversion.DATETIME_CLAMP
)

DOWN = threading.Event()
CLIENT = mongomock.MongoClient()
# Index specs by (database, collection, name), as the server reports them in listIndexes.
INDEXES = {}
# The unique index's fields of a collection, by (database, collection).
UNIQUE = {}
# The TTL index (field, seconds) of a collection, by (database, collection).
TTL = {}


def hello(request):
    return request.reply(
        {
            "ok": 1,
            "ismaster": True,
            "isWritablePrimary": True,
            "helloOk": True,
            "minWireVersion": 0,
            "maxWireVersion": 17,
            "maxBsonObjectSize": 16 * 1024 * 1024,
            "maxMessageSizeBytes": 48_000_000,
            "maxWriteBatchSize": 100_000,
            "localTime": datetime.datetime.now(datetime.timezone.utc),
            "connectionId": 1,
        }
    )


def error(request, code, message):
    return request.reply({"ok": 0, "code": code, "errmsg": message})


def collection(request, name):
    return CLIENT[request.namespace][name]


def is_operator_update(update):
    return isinstance(update, dict) and any(k.startswith("$") for k in update)


def unique_id(request, name, document):
    """The `_id` the stand-in gives `document`: its unique key when its collection has a
    unique index, else None (mongomock then makes one)."""
    fields = UNIQUE.get((request.namespace, name))
    if fields is None:
        return None
    return "\x1f".join(repr(document.get(field)) for field in fields)


def key_query_id(request, name, query):
    """The `_id` of the document a query names by exactly its unique key, else None."""
    fields = UNIQUE.get((request.namespace, name))
    if fields is None or set(query) != set(fields):
        return None
    if any(isinstance(value, dict) for value in query.values()):
        return None  # an operator ($gte ...), not a key value
    return unique_id(request, name, query)


def replace_by_id(coll, object_id, replacement):
    """Replaces the document stored under `object_id`, or inserts it; (matched, modified).
    Goes to mongomock's store directly: its replace_one scans the collection."""
    document = dict(replacement)
    document["_id"] = object_id
    if object_id in coll._store:
        document = mongomock.helpers.patch_datetime_awareness_in_document(document)
        modified = coll._store[object_id] != document
        coll._store[object_id] = document
        return True, modified
    coll.insert_one(document)
    return False, False


def expire(request, name):
    """Deletes what the collection's TTL index has expired."""
    ttl = TTL.get((request.namespace, name))
    if ttl is None:
        return
    field, seconds = ttl
    cutoff = mongomock.utcnow() - datetime.timedelta(seconds=seconds)
    collection(request, name).delete_many({field: {"$lte": cutoff}})


def do_update(request, doc):
    coll = collection(request, doc["update"])
    n = modified = 0
    upserted = []
    write_errors = []
    for index, spec in enumerate(doc.get("updates", [])):
        query, update = spec.get("q", {}), spec.get("u", {})
        upsert, multi = bool(spec.get("upsert")), bool(spec.get("multi"))
        object_id = None if is_operator_update(update) else key_query_id(request, doc["update"], query)
        try:
            if object_id is not None and upsert:
                matched, changed = replace_by_id(coll, object_id, update)
                n += 1
                if matched:
                    modified += int(changed)
                else:
                    upserted.append({"index": index, "_id": object_id})
                continue
            if is_operator_update(update):
                result = (coll.update_many if multi else coll.update_one)(query, update, upsert=upsert)
            else:
                result = coll.replace_one(query, update, upsert=upsert)
        except DuplicateKeyError as e:
            write_errors.append({"index": index, "code": 11000, "errmsg": str(e)})
            if doc.get("ordered", True):
                break
            continue
        except Exception as e:  # one bad document does not stop an unordered batch
            write_errors.append({"index": index, "code": 2, "errmsg": str(e)})
            if doc.get("ordered", True):
                break
            continue
        n += result.matched_count
        modified += result.modified_count
        if result.upserted_id is not None:
            n += 1
            upserted.append({"index": index, "_id": result.upserted_id})
    reply = {"ok": 1, "n": n, "nModified": modified}
    if upserted:
        reply["upserted"] = upserted
    if write_errors:
        reply["writeErrors"] = write_errors
    return request.reply(reply)


def do_insert(request, doc):
    coll = collection(request, doc["insert"])
    n = 0
    write_errors = []
    for index, document in enumerate(doc.get("documents", [])):
        object_id = unique_id(request, doc["insert"], document)
        if object_id is not None:
            document["_id"] = object_id
        try:
            coll.insert_one(document)
            n += 1
        except DuplicateKeyError as e:
            write_errors.append({"index": index, "code": 11000, "errmsg": str(e)})
            if doc.get("ordered", True):
                break
    reply = {"ok": 1, "n": n}
    if write_errors:
        reply["writeErrors"] = write_errors
    return request.reply(reply)


def do_delete(request, doc):
    coll = collection(request, doc["delete"])
    n = 0
    for spec in doc.get("deletes", []):
        query = spec.get("q", {})
        result = coll.delete_one(query) if spec.get("limit") == 1 else coll.delete_many(query)
        n += result.deleted_count
    return request.reply({"ok": 1, "n": n})


def do_find(request, doc):
    name = doc["find"]
    expire(request, name)
    coll = collection(request, name)
    cursor = coll.find(doc.get("filter", {}), doc.get("projection"))
    sort = doc.get("sort")
    if sort:
        cursor = cursor.sort(list(sort.items()))
    if doc.get("skip"):
        cursor = cursor.skip(int(doc["skip"]))
    limit = int(doc.get("limit", 0) or 0)
    if limit:
        cursor = cursor.limit(abs(limit))
    batch = list(cursor)
    return request.reply(
        {"ok": 1, "cursor": {"id": Int64(0), "ns": f"{request.namespace}.{name}", "firstBatch": batch}}
    )


def index_spec(db, coll, spec):
    out = SON([("v", 2), ("key", spec["key"]), ("name", spec["name"])])
    for option in ("unique", "expireAfterSeconds"):
        if option in spec:
            out[option] = spec[option]
    return out


def do_create_indexes(request, doc):
    name = doc["createIndexes"]
    coll = collection(request, name)
    before = len([k for k in INDEXES if k[:2] == (request.namespace, name)])
    for spec in doc.get("indexes", []):
        key = (request.namespace, name, spec["name"])
        if key in INDEXES:
            old = INDEXES[key]
            if any(old.get(o) != spec.get(o) for o in ("key", "unique", "expireAfterSeconds")):
                return error(
                    request,
                    85,
                    f"An equivalent index already exists with a different name or options: {spec['name']}",
                )
            continue
        fields = list(spec["key"].keys())
        if spec.get("unique"):
            if (request.namespace, name) in UNIQUE:
                return error(request, 67, "the stand-in keeps one unique index per collection")
            if coll.count_documents({}) > 0:
                return error(request, 67, "the stand-in makes unique indexes on empty collections only")
            UNIQUE[(request.namespace, name)] = fields
        if "expireAfterSeconds" in spec:
            if len(fields) == 1:  # as on a server, a compound TTL index expires nothing
                TTL[(request.namespace, name)] = (fields[0], int(spec["expireAfterSeconds"]))
        # mongomock keeps the name (and creates the collection); the stand-in enforces it.
        coll.create_index(list(spec["key"].items()), name=spec["name"])
        INDEXES[key] = index_spec(request.namespace, name, spec)
    after = len([k for k in INDEXES if k[:2] == (request.namespace, name)])
    return request.reply({"ok": 1, "numIndexesBefore": before + 1, "numIndexesAfter": after + 1})


def do_list_indexes(request, doc):
    name = doc["listIndexes"]
    if name not in CLIENT[request.namespace].list_collection_names():
        return error(request, 26, f"ns does not exist: {request.namespace}.{name}")
    batch = [SON([("v", 2), ("key", {"_id": 1}), ("name", "_id_")])]
    batch += [spec for key, spec in INDEXES.items() if key[:2] == (request.namespace, name)]
    return request.reply(
        {"ok": 1, "cursor": {"id": Int64(0), "ns": f"{request.namespace}.{name}", "firstBatch": batch}}
    )


def do_coll_mod(request, doc):
    name = doc["collMod"]
    change = doc.get("index", {})
    key = (request.namespace, name, change.get("name"))
    if key not in INDEXES:
        return error(request, 27, f"index not found with name [{change.get('name')}]")
    spec = INDEXES[key]
    old = spec.get("expireAfterSeconds")
    new = change.get("expireAfterSeconds")
    if new is not None:
        spec["expireAfterSeconds"] = new
        fields = list(spec["key"].keys())
        if len(fields) == 1:
            TTL[(request.namespace, name)] = (fields[0], int(new))
    return request.reply({"ok": 1, "expireAfterSeconds_old": old, "expireAfterSeconds_new": new})


def do_drop_database(request, doc):
    CLIENT.drop_database(request.namespace)
    for table in (INDEXES, UNIQUE, TTL):
        for key in [k for k in table if k[0] == request.namespace]:
            del table[key]
    return request.reply({"ok": 1})


HANDLERS = {
    "update": do_update,
    "insert": do_insert,
    "delete": do_delete,
    "find": do_find,
    "createindexes": do_create_indexes,
    "listindexes": do_list_indexes,
    "collmod": do_coll_mod,
    "dropdatabase": do_drop_database,
}


def handle(request):
    if DOWN.is_set():
        return request.hangup()
    name = request.command_name.lower() if request.command_name else ""
    if name in ("hello", "ismaster"):
        return hello(request)
    if name in ("ping", "endsessions", "killcursors", "buildinfo"):
        return request.reply({"ok": 1})
    handler = HANDLERS.get(name)
    if handler is None:
        return error(request, 59, f"no such command: '{request.command_name}'")
    try:
        return handler(request, request.doc)
    except Exception as e:  # a stand-in bug must answer, not kill the connection thread
        return error(request, 1, f"stand-in error in {name}: {e!r}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = mockupdb.MockupDB(port=args.port, max_wire_version=17)
    server.autoresponds(mockupdb.Matcher(), handle)
    port = server.run()
    def down(*_):
        DOWN.set()
        print("DOWN", flush=True)  # the test waits for this before going on

    def up(*_):
        DOWN.clear()
        print("UP", flush=True)

    signal.signal(signal.SIGUSR1, down)
    signal.signal(signal.SIGUSR2, up)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"PORT {port}", flush=True)
    while not stop.wait(3600):
        pass
    server.stop()


if __name__ == "__main__":
    sys.exit(main())
