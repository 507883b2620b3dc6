"""Loopback stand-in for Nova's metadata service (169.254.169.254 is not reachable here).

Serves the JSON document in META_DATA_FILE at /openstack/latest/meta_data.json (and at the
dated /openstack/<version>/meta_data.json paths), read on every request so `up` can rewrite it.
usage: metadata_stub.py PORT META_DATA_FILE
"""

import http.server
import re
import sys

META_DATA_PATH = re.compile(r"^/openstack/(latest|\d{4}-\d{2}-\d{2})/meta_data\.json$")


def handler_for(meta_data_file):
    class MetadataHandler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path in ("/", "/openstack", "/openstack/"):
                self.reply(200, "text/plain", b"latest\n")
            elif META_DATA_PATH.match(self.path):
                with open(meta_data_file, "rb") as document:
                    self.reply(200, "application/json", document.read())
            else:
                self.reply(404, "text/plain", b"not found\n")

        def reply(self, status, content_type, body):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return MetadataHandler


def main():
    port, meta_data_file = int(sys.argv[1]), sys.argv[2]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler_for(meta_data_file))
    server.serve_forever()


if __name__ == "__main__":
    main()
