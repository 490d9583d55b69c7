"""moto_server with DynamoDB requests handled one at a time; arguments as for moto_server.

moto's server handles each request on its own thread, and its DynamoDB backend checks a write's
condition and stores the item in two steps without a lock (Table.put_item: get_item, evaluate the
condition, assign). Two concurrent conditional writes can therefore both pass the same condition,
e.g. two PutItems that both expect version 1 both succeed. DynamoDB applies every write to an
item atomically, so tests of optimistic concurrency fail at random against plain moto.

Holding one lock around every DynamoDB request restores atomic writes. Other services keep moto's
threading: a fully serial server would stall behind an SQS long poll.
"""

import threading

from moto import server


class OneDynamoDbRequestAtATime:
    """WSGI middleware: DynamoDB requests (X-Amz-Target: DynamoDB_…) run one at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with self.lock:
                # moto's Flask views do all their work (and build the whole body) in this call.
                return self.app(environ, start_response)
        return self.app(environ, start_response)


_dispatcher = server.DomainDispatcherApplication
server.DomainDispatcherApplication = lambda create_app: OneDynamoDbRequestAtATime(
    _dispatcher(create_app)
)
server.main()
