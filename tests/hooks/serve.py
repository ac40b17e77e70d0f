"""A file server for the delivery tests: serves DIR on 127.0.0.1, logs each
request path to LOG, and answers the first FAIL requests with HTTP 500."""
import http.server
import os
import sys

root, log, port_file = sys.argv[1], sys.argv[2], sys.argv[3]
failures = int(os.environ.get("FAIL", "0"))


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=root, **kwargs)

    def do_GET(self):
        global failures
        with open(log, "a") as f:
            f.write(self.path + "\n")
        if failures > 0:
            failures -= 1
            self.send_error(500, "flaky")
            return
        super().do_GET()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
