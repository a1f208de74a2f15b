#!/usr/bin/env python3
"""Fills a fresh local homeserver with a demo account and rooms with live calls.

    scripts/demo_data.py BASEURL DEMO_USER DEMO_PASSWORD [STATE]
    scripts/demo_data.py --ring STATE       Carol rings the demo user in their direct chat
    scripts/demo_data.py --hang-up STATE    Carol leaves that call again (a missed call)

With STATE, what --ring and --hang-up need (Carol's token, the chat) is written to that file.
Registers the demo user and a few colleagues, names them, creates rooms, and has the
colleagues join calls the way Element Call does (session memberships). Uses only the standard
library. Prints nothing but errors.
"""

import json
import urllib.parse
import sys
import time
import urllib.request
import uuid

if sys.argv[1].startswith("--"):
    with open(sys.argv[2]) as f:
        STATE = json.load(f)
    BASE = STATE["base"]
else:
    BASE, DEMO_USER, DEMO_PASSWORD = sys.argv[1:4]
SFU = "https://livekit-jwt.call.example.org"


def call(method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"{}")


def register(localpart, password, display_name):
    reply = call("POST", "/_matrix/client/v3/register", {
        "username": localpart, "password": password, "auth": {"type": "m.login.dummy"},
        "initial_device_display_name": "demo"})
    user = {"id": reply["user_id"], "token": reply["access_token"], "device": reply["device_id"]}
    call("PUT", f"/_matrix/client/v3/profile/{user['id']}/displayname",
         {"displayname": display_name}, user["token"])
    return user


def create_room(owner, name, invite, direct=False):
    body = {"name": name, "preset": "private_chat", "invite": [u["id"] for u in invite],
            "is_direct": direct,
            "power_level_content_override": {"events": {
                "org.matrix.msc3401.call.member": 0, "m.rtc.member": 0}}}
    if direct:
        body.pop("name")
    room = call("POST", "/_matrix/client/v3/createRoom", body, owner["token"])["room_id"]
    for user in invite:
        call("POST", f"/_matrix/client/v3/join/{room}", {}, user["token"])
    return room


def join_call(user, room, device, intent):
    key = f"_{user['id']}_{device}_m.call"
    content = {
        "application": "m.call", "call_id": "", "scope": "m.room", "device_id": device,
        "membershipID": f"{user['id']}:{device}", "expires": 4 * 3600 * 1000,
        "m.call.intent": intent,
        "focus_active": {"type": "livekit", "focus_selection": "oldest_membership"},
        "foci_preferred": [{"type": "livekit", "livekit_alias": room,
                            "livekit_service_url": SFU}],
    }
    path = (f"/_matrix/client/v3/rooms/{urllib.parse.quote(room)}/state/"
            f"org.matrix.msc3401.call.member/{urllib.parse.quote(key)}")
    return call("PUT", path, content, user["token"])["event_id"]


def ring(carol, room):
    """Carol joins a call in the chat and rings it, as Element Call does."""
    member = join_call(carol, room, "CAROLPHONE", "video")
    call("PUT", f"/_matrix/client/v3/rooms/{urllib.parse.quote(room)}/send/"
         f"org.matrix.msc4075.rtc.notification/{uuid.uuid4().hex}", {
             "m.mentions": {"user_ids": [], "room": True}, "notification_type": "ring",
             "m.relates_to": {"rel_type": "m.reference", "event_id": member},
             "sender_ts": int(time.time() * 1000), "lifetime": 60_000,
             "m.call.intent": "video"}, carol["token"])


def hang_up(carol, room):
    key = f"_{carol['id']}_CAROLPHONE_m.call"
    path = (f"/_matrix/client/v3/rooms/{urllib.parse.quote(room)}/state/"
            f"org.matrix.msc3401.call.member/{urllib.parse.quote(key)}")
    call("PUT", path, {}, carol["token"])


def main():
    me = register(DEMO_USER, DEMO_PASSWORD, "Sam Rivera")
    people = {name: register(f"{name.lower()}-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex, full)
              for name, full in [("Alice", "Alice Okafor"), ("Bob", "Bob Lindqvist"),
                                 ("Carol", "Carol Nguyen"), ("Dan", "Dan Kowalski"),
                                 ("Eve", "Eve Moreau")]}
    a, b, c, d, e = (people[n] for n in ["Alice", "Bob", "Carol", "Dan", "Eve"])
    everyone = [b, c, d, e, me]
    standup = create_room(a, "Team standup", everyone)
    design = create_room(c, "Design review", [a, e, me])
    create_room(b, "Release planning", [a, c, me])
    create_room(d, "Random", [a, b, c, e, me])
    create_room(e, "Support rota", [a, me])
    carol_dm = create_room(c, None, [me], direct=True)
    join_call(a, standup, "ALICELAPTOP", "video")
    time.sleep(1.2)
    join_call(b, standup, "BOBDESKTOP", "video")
    join_call(d, standup, "DANPHONE", "video")
    join_call(d, standup, "DANLAPTOP", "video")
    join_call(c, design, "CAROLTABLET", "audio")
    join_call(e, design, "EVEDESKTOP", "audio")
    if len(sys.argv) > 4:
        with open(sys.argv[4], "w") as f:
            json.dump({"base": BASE, "carol": c, "dm": carol_dm}, f)


if __name__ == "__main__":
    if sys.argv[1] == "--ring":
        ring(STATE["carol"], STATE["dm"])
    elif sys.argv[1] == "--hang-up":
        hang_up(STATE["carol"], STATE["dm"])
    else:
        main()
