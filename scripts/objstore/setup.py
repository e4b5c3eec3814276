"""Bucket set-up and moto's on-disk snapshot for scripts/objstore-harness.

usage: python setup.py KIND ENDPOINT BUCKET DATA_DIR ACTION
  ACTION create   create the bucket if missing (s3, gcs)
         save     (s3) copy every object of every bucket into DATA_DIR/snapshot
                  (moto-server.py does this itself as it stops; by hand,
                  only on a server nothing writes to)
         load     (s3) put DATA_DIR/snapshot back into a fresh server

moto keeps its objects in memory only; saving them as it stops (see
moto-server.py for the order that keeps every acknowledged write) and
loading them after it starts again lets a test stop "the store server" in
the middle of a run and bring it back with the same data, as Azurite and
fake-gcs-server do by themselves (they keep their data on disk).
"""
import json
import os
import shutil
import sys
import urllib.error
import urllib.request


def s3_client(endpoint, headers=None):
    import boto3

    c = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    if headers:
        def add(request, **_):
            for k, v in headers.items():
                request.headers[k] = v

        c.meta.events.register("before-sign.s3", add)
    return c


def s3_create(endpoint, bucket):
    c = s3_client(endpoint)
    names = [b["Name"] for b in c.list_buckets().get("Buckets", [])]
    if bucket not in names:
        c.create_bucket(Bucket=bucket)


def s3_save(endpoint, data, headers=None):
    c = s3_client(endpoint, headers)
    snap = os.path.join(data, "snapshot")
    tmp = snap + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for b in c.list_buckets().get("Buckets", []):
        name = b["Name"]
        os.makedirs(os.path.join(tmp, name))
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=name):
            for o in page.get("Contents", []):
                path = os.path.join(tmp, name, o["Key"])
                os.makedirs(os.path.dirname(path), exist_ok=True)
                c.download_file(name, o["Key"], path)
    shutil.rmtree(snap, ignore_errors=True)
    os.rename(tmp, snap)


def s3_load(endpoint, data):
    snap = os.path.join(data, "snapshot")
    if not os.path.isdir(snap):
        return
    c = s3_client(endpoint)
    for name in sorted(os.listdir(snap)):
        s3_create(endpoint, name)
        root = os.path.join(snap, name)
        for d, _, files in os.walk(root):
            for f in files:
                path = os.path.join(d, f)
                key = os.path.relpath(path, root)
                c.upload_file(path, name, key)


def gcs_create(endpoint, bucket):
    try:
        urllib.request.urlopen(f"{endpoint}/storage/v1/b/{bucket}", timeout=10)
        return
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
    req = urllib.request.Request(
        f"{endpoint}/storage/v1/b",
        data=json.dumps({"name": bucket}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(req, timeout=10)


def main():
    kind, endpoint, bucket, data, action = sys.argv[1:6]
    if (kind, action) == ("s3", "create"):
        s3_create(endpoint, bucket)
    elif (kind, action) == ("s3", "save"):
        s3_save(endpoint, data)
    elif (kind, action) == ("s3", "load"):
        s3_load(endpoint, data)
    elif (kind, action) == ("gcs", "create"):
        gcs_create(endpoint, bucket)
    else:
        sys.exit(f"setup.py: nothing to do for {kind} {action}")


if __name__ == "__main__":
    main()
