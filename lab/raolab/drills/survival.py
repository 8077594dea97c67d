"""Data survival: an image uploaded and a token issued through the floating IP before
node-loss and switchover must be listed, download with the same checksums and validate
after each."""

import time
from typing import Callable, Dict

from ..cluster import ClusterError
from ..lab import Lab
from .nodes import node_loss, switchover
from .result import Result

DESCRIPTIONS = {
    "data": "an image and a token made before node-loss and switchover survive them",
}

IMAGE_PREFIX = "rao-lab-"


def seed_data(lab: Lab, size: int = 1 << 20) -> Dict:
    """An image uploaded and a token issued through the floating IP, before the drills."""
    lab.client_json("delete", lab.keystone_url, lab.glance_url, IMAGE_PREFIX)
    for attempt in (1, 2, 3):
        image = lab.client_json("upload", lab.keystone_url, lab.glance_url, f"{IMAGE_PREFIX}{int(time.time())}",
                                str(size))
        if "error" not in image and image.get("status") == "active":
            break
        # behind HAProxy a just-restarted instance on a saturated lab machine can exceed the
        # example's timeouts on every controller at once (504, or 401 from Glance when its
        # token check got the 504): the seed is setup, not the measurement
        lab.say(f"data: image upload failed (attempt {attempt}): {str(image.get('error', image))[:160]}")
        time.sleep(3)
    else:
        raise ClusterError(f"image upload through the floating IP failed: {image}")
    token = lab.client_json("token", lab.keystone_url)
    if "error" in token:
        raise ClusterError(f"token issue through the floating IP failed: {token}")
    lab.say(f"data: image {image['id']} ({size} bytes, sha256 {image['sha256'][:16]}...) uploaded "
            f"on node{lab.active_node()}; token issued")
    return {"image": image, "token": token["token"], "node": lab.active_node()}


def verify_data(lab: Lab, seed: Dict, name: str = "data", delete: bool = True) -> Result:
    res = Result(name)
    image = seed["image"]
    got = lab.client_json("verify", lab.keystone_url, lab.glance_url, image["id"], image["sha256"])
    valid = lab.client_json("validate", lab.keystone_url, seed["token"])
    res.notes.append(f"served by node{lab.active_node()} (seeded on node{seed['node']})")
    res.notes.append(f"image listed {got.get('listed')}, {got.get('status')}, download HTTP {got.get('download')}, "
                     f"same sha256 {got.get('same')}, glance md5 {got.get('glance_checksum') == image['md5']}")
    res.notes.append(f"old token validates: HTTP {valid.get('status')} (user {valid.get('user')})")
    res.ok = bool(got.get("listed") and got.get("same") and got.get("status") == "active"
                  and got.get("glance_checksum") == image["md5"] and valid.get("status") == 200)
    if not res.ok:
        res.error = f"verify {got}, validate {valid}"
    elif delete:
        lab.client_json("delete", lab.keystone_url, lab.glance_url, IMAGE_PREFIX)
    return res


def data(lab: Lab) -> Result:
    """Seed, node-loss, check on the survivor, switchover back, check again."""
    seed = seed_data(lab)
    phases = [node_loss(lab)]
    phases.append(verify_data(lab, seed, "data after node-loss", delete=False))
    phases.append(switchover(lab))
    res = verify_data(lab, seed)
    res.phases = {r.drill: r for r in phases}
    res.ok = res.ok and all(r.ok for r in phases)
    return res


DRILLS: Dict[str, Callable[[Lab], Result]] = {"data": data}
