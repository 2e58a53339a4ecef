#!/usr/bin/env python3
"""Generates tools/jmeter/chat.jmx, the JMeter load-test plan for startserv.

    python3 tools/jmeter/gen_plan.py            # rewrites tools/jmeter/chat.jmx
    python3 tools/jmeter/gen_plan.py --check    # exit 1 if chat.jmx is out of date

Why a generator: the plan uses stock JMeter's TCP sampler with
org.apache.jmeter.protocol.tcp.sampler.LengthPrefixedBinaryTCPClientImpl, whose request
text is HEX (the sampler decodes it to bytes and writes the length prefix itself) and whose
response is handed to assertions and extractors as HEX too. Hand-writing hex JSON is error
prone, so the fixed parts of every request are hex-encoded here, from readable JSON
templates, and only the parts that vary are filled in by JMeter at run time:

* the user name's digits (from __threadNum + user_offset) and the client_msg_id's digits
  (a per-thread __counter) are turned into hex by __jexl2, a function present in JMeter
  2.13 (Debian's package) and in every JMeter 5.x. A decimal digit d is the byte 0x3d, so
  "hex of a digit string" is simply "put a 3 before every digit":
  '123'.replaceAll('(.)', '3$1') == '313233';
* the friend to write to and the sync cursor are cut, already hex, out of earlier
  responses by Regex Extractors (a number in compact JSON is ASCII digits, i.e. 3x bytes).

The readable JSON of each request is kept in the sampler's comment (visible in JMeter's GUI).
Standard library only; the output is deterministic.
"""

import argparse
import os
import sys
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "chat.jmx")

TCP_CLIENT = "org.apache.jmeter.protocol.tcp.sampler.LengthPrefixedBinaryTCPClientImpl"

# "ok":true as the server writes it (serde_json emits compact JSON: no spaces), in hex.
OK_TRUE_HEX = '"ok":true'.encode().hex()


def hx(text: str) -> str:
    return text.encode("utf-8").hex()


def digits_hex(expr: str) -> str:
    """JMeter expression giving the hex of the decimal digit string `expr` evaluates to.

    Commas inside a JMeter function's argument must be escaped as backslash-comma.
    """
    return "${__jexl2('%s'.replaceAll('(.)'\\,'3$1'))}" % expr


# Per-thread demo user: demo + 5 digits of (user_offset + __threadNum), 1-based like demo.sql.
USER_DIGITS_HEX = "${__jexl2('${__intSum(100000,${__threadNum},${user_offset})}'.substring(1).replaceAll('(.)'\\,'3$1'))}"

LOGIN_HEX = (
    hx('{"type":"login","username":"demo')
    + USER_DIGITS_HEX
    + hx('","password":"')
    + "${password_hex}"
    + hx('","push":false}')
)
LOGIN_JSON = ('{"type":"login","username":"demo<5 digits: user_offset + thread number>",'
              '"password":"${password}","push":false}')

FRIENDS_HEX = hx('{"type":"friends"}')
FRIENDS_JSON = '{"type":"friends"}'

# client_msg_id = "jm" <run_id> "u" <user digits> "n" <per-thread counter>: unique per
# sample within a run, and across runs against the same server (run_id is the start time).
SEND_HEX = (
    hx('{"type":"send_message","to":')
    + "${peer_hex}"
    + hx(',"text":"')
    + "${text_hex}"
    + hx('","client_msg_id":"jm')
    + digits_hex("${run_id}")
    + hx("u")
    + USER_DIGITS_HEX
    + hx("n")
    + digits_hex("${__counter(TRUE,)}")
    + hx('"}')
)
SEND_JSON = ('{"type":"send_message","to":<random friend\'s user_id, from the friends response>,'
             '"text":"${text}","client_msg_id":"jm<run_id>u<user digits>n<per-thread counter>"}')

SYNC_HEX = (
    hx('{"type":"sync","after":')
    + "${last_pos_hex}"
    + hx(',"limit":')
    + digits_hex("${sync_limit}")
    + hx("}")
)
SYNC_JSON = ('{"type":"sync","after":<pos of this thread\'s last send_message>,'
             '"limit":${sync_limit}}')

PING_HEX = hx('{"type":"ping"}')
PING_JSON = '{"type":"ping"}'

# Regexes over the HEX response: "user_id": / "pos": followed by ASCII digits (3[0-9]).
USER_ID_RE = hx('"user_id":') + "((?:3[0-9])+)"
POS_RE = hx('"pos":') + "((?:3[0-9])+)"


def prop(kind: str, name: str, value) -> str:
    if kind == "bool":
        return f'<boolProp name="{name}">{"true" if value else "false"}</boolProp>'
    if kind == "int":
        return f'<intProp name="{name}">{value}</intProp>'
    if kind == "long":
        return f'<longProp name="{name}">{value}</longProp>'
    return f'<stringProp name="{name}">{escape(str(value))}</stringProp>'


class W:
    def __init__(self):
        self.lines = []
        self.depth = 0

    def line(self, s: str):
        self.lines.append("  " * self.depth + s)

    def open(self, s: str):
        self.line(s)
        self.depth += 1

    def close(self, s: str):
        self.depth -= 1
        self.line(s)


def argument(w: W, name: str, value: str, desc: str):
    w.open(f'<elementProp name="{name}" elementType="Argument">')
    w.line(prop("str", "Argument.name", name))
    w.line(prop("str", "Argument.value", value))
    w.line(prop("str", "Argument.desc", desc))
    w.line(prop("str", "Argument.metadata", "="))
    w.close("</elementProp>")


def tcp_sampler(w: W, name: str, request_hex: str, comment: str, children=None):
    w.open(f'<TCPSampler guiclass="TCPSamplerGui" testclass="TCPSampler" testname="{name}" enabled="true">')
    w.line(prop("str", "TCPSampler.server", "${host}"))
    w.line(prop("str", "TCPSampler.port", "${port}"))
    w.line(prop("bool", "TCPSampler.reUseConnection", True))
    w.line(prop("bool", "TCPSampler.closeConnection", False))
    w.line(prop("str", "TCPSampler.classname", TCP_CLIENT))
    w.line(prop("bool", "TCPSampler.nodelay", True))
    w.line(prop("str", "TCPSampler.timeout", "${timeout_ms}"))
    w.line(prop("str", "TCPSampler.ctimeout", "${timeout_ms}"))
    w.line(prop("str", "TCPSampler.request", request_hex))
    w.line(prop("str", "TCPSampler.soLinger", ""))
    w.line(prop("str", "TCPSampler.EolByte", ""))
    w.line(prop("str", "TestPlan.comments", comment))
    w.close("</TCPSampler>")
    if children:
        w.open("<hashTree>")
        for child in children:
            child(w)
        w.close("</hashTree>")
    else:
        w.line("<hashTree/>")


def regex_extractor(name: str, refname: str, regex: str, match_no: str, default: str, comment: str):
    def emit(w: W):
        w.open(f'<RegexExtractor guiclass="RegexExtractorGui" testclass="RegexExtractor" testname="{name}" enabled="true">')
        w.line(prop("str", "RegexExtractor.useHeaders", "false"))
        w.line(prop("str", "RegexExtractor.refname", refname))
        w.line(prop("str", "RegexExtractor.regex", regex))
        w.line(prop("str", "RegexExtractor.template", "$1$"))
        w.line(prop("str", "RegexExtractor.default", default))
        w.line(prop("str", "RegexExtractor.match_number", match_no))
        w.line(prop("str", "TestPlan.comments", comment))
        w.close("</RegexExtractor>")
        w.line("<hashTree/>")
    return emit


def generate() -> str:
    w = W()
    w.line('<?xml version="1.0" encoding="UTF-8"?>')
    w.line("<!-- GENERATED by tools/jmeter/gen_plan.py: edit that, not this file. -->")
    w.open('<jmeterTestPlan version="1.2" properties="2.8" jmeter="2.13">')
    w.open("<hashTree>")
    w.open('<TestPlan guiclass="TestPlanGui" testclass="TestPlan" testname="startserv chat load test" enabled="true">')
    w.line(prop("str", "TestPlan.comments",
                "Stock TCP sampler, LengthPrefixedBinaryTCPClientImpl (hex payloads, 4-byte prefix). "
                "Each thread logs in as one demo user with push:false (strict request/response), "
                "then loops send_message to a random friend, sync, ping. See tools/jmeter/README.md."))
    w.line(prop("bool", "TestPlan.functional_mode", False))
    w.line(prop("bool", "TestPlan.serialize_threadgroups", False))
    w.open('<elementProp name="TestPlan.user_defined_variables" elementType="Arguments" '
           'guiclass="ArgumentsPanel" testclass="Arguments" testname="User Defined Variables" enabled="true">')
    w.open('<collectionProp name="Arguments.arguments">')
    argument(w, "host", "${__P(host,127.0.0.1)}", "server address (-Jhost=...)")
    argument(w, "port", "${__P(port,12345)}", "server port (-Jport=...)")
    argument(w, "user_offset", "${__P(user_offset,0)}",
             "thread N logs in as demo user number user_offset+N (-Juser_offset=...)")
    argument(w, "password", "${__P(password,demo-password)}", "the demo users' password (-Jpassword=...)")
    argument(w, "password_hex",
             "${__jexl2(new('java.math.BigInteger'\\,1\\,'${__P(password,demo-password)}'.getBytes('UTF-8')).toString(16))}",
             "hex of the password (computed from the property: variables of one element cannot use each other)")
    argument(w, "text", "${__P(text,hello from JMeter)}", "message text (-Jtext=..., no quotes or backslashes)")
    argument(w, "text_hex",
             "${__jexl2(new('java.math.BigInteger'\\,1\\,'${__P(text,hello from JMeter)}'.getBytes('UTF-8')).toString(16))}",
             "hex of the message text (computed)")
    argument(w, "sync_limit", "${__P(sync_limit,20)}", "sync page size, 1..500 (-Jsync_limit=...)")
    argument(w, "timeout_ms", "${__P(timeout_ms,10000)}", "connect and read timeout in ms (-Jtimeout_ms=...)")
    argument(w, "run_id", "${__P(run_id,${__time(,)})}",
             "digits that make client_msg_ids unique across runs (default: start time in ms)")
    argument(w, "prefix_len", "${__setProperty(tcp.binarylength.prefix.length,4,)}",
             "sets the JMeter property tcp.binarylength.prefix.length=4: the protocol's 4-byte length prefix")
    w.close("</collectionProp>")
    w.close("</elementProp>")
    w.line(prop("str", "TestPlan.user_define_classpath", ""))
    w.close("</TestPlan>")
    w.open("<hashTree>")

    # Thread group: loops forever, bounded by the scheduler's duration.
    w.open('<ThreadGroup guiclass="ThreadGroupGui" testclass="ThreadGroup" testname="chat users" enabled="true">')
    w.line(prop("str", "ThreadGroup.on_sample_error", "continue"))
    w.open('<elementProp name="ThreadGroup.main_controller" elementType="LoopController" '
           'guiclass="LoopControlPanel" testclass="LoopController" testname="Loop Controller" enabled="true">')
    w.line(prop("bool", "LoopController.continue_forever", False))
    w.line(prop("int", "LoopController.loops", -1))
    w.close("</elementProp>")
    w.line(prop("str", "ThreadGroup.num_threads", "${__P(threads,10)}"))
    w.line(prop("str", "ThreadGroup.ramp_time", "${__P(rampup,5)}"))
    w.line(prop("long", "ThreadGroup.start_time", 0))
    w.line(prop("long", "ThreadGroup.end_time", 0))
    w.line(prop("bool", "ThreadGroup.scheduler", True))
    w.line(prop("str", "ThreadGroup.duration", "${__P(duration,30)}"))
    w.line(prop("str", "ThreadGroup.delay", "0"))
    w.line(prop("str", "TestPlan.comments", "-Jthreads=N -Jrampup=SECONDS -Jduration=SECONDS"))
    w.close("</ThreadGroup>")
    w.open("<hashTree>")

    # One assertion for every sampler in the group: the response contains "ok":true.
    w.open('<ResponseAssertion guiclass="AssertionGui" testclass="ResponseAssertion" testname="response has &quot;ok&quot;:true" enabled="true">')
    w.open('<collectionProp name="Asserion.test_strings">')
    w.line(f'<stringProp name="ok_true_hex">{OK_TRUE_HEX}</stringProp>')
    w.close("</collectionProp>")
    w.line(prop("str", "TestPlan.comments",
                'The TCP sampler hands the response over as hex; this is the hex of "ok":true '
                "(the server writes compact JSON). A response without it is an error."))
    w.line(prop("str", "Assertion.test_field", "Assertion.response_data"))
    w.line(prop("bool", "Assertion.assume_success", False))
    w.line(prop("int", "Assertion.test_type", 16))  # 16 = Substring
    w.close("</ResponseAssertion>")
    w.line("<hashTree/>")

    w.open('<OnceOnlyController guiclass="OnceOnlyControllerGui" testclass="OnceOnlyController" '
           'testname="log in once per thread" enabled="true">')
    w.line(prop("str", "TestPlan.comments",
                "Runs on the thread's first iteration only; the connection is re-used afterwards."))
    w.close("</OnceOnlyController>")
    w.open("<hashTree>")
    tcp_sampler(w, "login", LOGIN_HEX, LOGIN_JSON)
    tcp_sampler(w, "friends", FRIENDS_HEX, FRIENDS_JSON, children=[
        regex_extractor("peer = a random friend's user_id (hex)", "peer_hex", USER_ID_RE, "0", "",
                        'hex of a random "user_id":<digits> in the friends list (0 = random match)'),
    ])
    w.close("</hashTree>")

    tcp_sampler(w, "send_message", SEND_HEX, SEND_JSON, children=[
        regex_extractor("last_pos = pos (hex)", "last_pos_hex", POS_RE, "1", hx("0"),
                        'hex of "pos":<digits> (my timeline position): the sync cursor'),
    ])
    tcp_sampler(w, "sync", SYNC_HEX, SYNC_JSON)
    tcp_sampler(w, "ping", PING_HEX, PING_JSON)

    w.close("</hashTree>")  # thread group
    w.close("</hashTree>")  # test plan
    w.close("</hashTree>")  # root
    w.close("</jmeterTestPlan>")
    return "\n".join(w.lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if chat.jmx differs from the generated plan")
    args = ap.parse_args()
    text = generate()
    if args.check:
        try:
            with open(OUT, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{OUT} is out of date: run python3 tools/jmeter/gen_plan.py", file=sys.stderr)
            return 1
        return 0
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
