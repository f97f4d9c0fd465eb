#!/usr/bin/env python3
"""mkimage.py LAYER.tar OUT.tar REF: wraps a root filesystem tarball (one layer) into a
docker-archive image (what `docker save` writes), which `ctr images import` and `docker load`
accept, so that containerd gets an image without a registry or dockerd."""
import hashlib
import io
import json
import sys
import tarfile
import time

layer_path, out_path, ref = sys.argv[1:4]
with open(layer_path, 'rb') as f:
    layer = f.read()
diff_id = 'sha256:' + hashlib.sha256(layer).hexdigest()
config = json.dumps({
    'architecture': 'amd64',
    'os': 'linux',
    'config': {'Env': ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
               'Cmd': ['/bin/sh']},
    'rootfs': {'type': 'layers', 'diff_ids': [diff_id]},
}).encode()
config_name = hashlib.sha256(config).hexdigest() + '.json'
layer_name = diff_id[len('sha256:'):] + '/layer.tar'
manifest = json.dumps([{'Config': config_name, 'RepoTags': [ref], 'Layers': [layer_name]}])

with tarfile.open(out_path, 'w') as out:
    for name, data in ((config_name, config), (layer_name, layer),
                       ('manifest.json', manifest.encode())):
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
        out.addfile(info, io.BytesIO(data))
