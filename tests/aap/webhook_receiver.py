"""A webhook receiver on loopback for the notify.yml tests.

Usage: webhook_receiver.py PORT_FILE BODY_FILE STATUS
Listens on 127.0.0.1 (a free port, written to PORT_FILE), answers every POST with STATUS and
appends its JSON body as one line to BODY_FILE. Stops by itself after 120 seconds.
"""

import http.server
import sys
import threading


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (the name http.server calls)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with open(self.server.body_file, "ab") as out:
            out.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(self.server.answer_status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    port_file, body_file, status = sys.argv[1], sys.argv[2], int(sys.argv[3])
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    server.body_file = body_file
    server.answer_status = status
    threading.Timer(120, server.shutdown).start()
    with open(port_file, "w") as out:
        out.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
