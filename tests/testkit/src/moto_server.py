"""moto_server with DynamoDB requests handled one at a time and SQS messages attributed to their
senders; arguments as for moto_server.

moto's server handles each request on its own thread, and its DynamoDB backend checks a write's
condition and stores the item in two steps without a lock (Table.put_item: get_item, evaluate the
condition, assign). Two concurrent conditional writes can therefore both pass the same condition,
e.g. two PutItems that both expect version 1 both succeed. DynamoDB applies every write to an
item atomically, so tests of optimistic concurrency fail at random against plain moto.

Holding one lock around every DynamoDB request restores atomic writes. Other services keep moto's
threading: a fully serial server would stall behind an SQS long poll.

moto reports one constant SenderId (AIDAIT2UOQQY3AUEKVGXU) for every SQS message, whoever sent
it. SQS reports the unique id of the sending principal: an IAM user's id, or for a role session
the role's id, a colon and the session name (what GetCallerIdentity calls UserId). A message
sent with credentials moto issued (an IAM user's access key, or AssumeRole) gets that id here;
other credentials keep moto's constant.
"""

import threading

from moto import server
from moto.iam.models import iam_backends
from moto.sqs import models as sqs_models
from moto.sqs.responses import SQSResponse
from moto.sts.models import sts_backends


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


def caller_unique_id(access_key_id):
    """The unique id of the principal moto issued `access_key_id` to, else None."""
    for account_backends in list(sts_backends.values()):
        for backend in list(account_backends.values()):
            role = backend.get_assumed_role_from_access_key(access_key_id)
            if role is not None:
                return role.user_id
    for account_backends in list(iam_backends.values()):
        for backend in list(account_backends.values()):
            user = backend.get_user_from_access_key_id(access_key_id)
            if user is not None:
                return user.id
    return None


_sender = threading.local()
_message_init = sqs_models.Message.__init__


def _attributed_message_init(self, *args, **kwargs):
    _message_init(self, *args, **kwargs)
    sender_id = getattr(_sender, "id", None)
    if sender_id is not None:
        self.sender_id = sender_id


def _sent_by_caller(handler):
    """An SQS send handler whose new messages carry the caller's unique id (moto's server runs
    each request on its own thread, and the handler creates its messages on that thread)."""

    def send(self):
        _sender.id = caller_unique_id(self.get_access_key())
        try:
            return handler(self)
        finally:
            _sender.id = None

    return send


sqs_models.Message.__init__ = _attributed_message_init
SQSResponse.send_message = _sent_by_caller(SQSResponse.send_message)
SQSResponse.send_message_batch = _sent_by_caller(SQSResponse.send_message_batch)

_dispatcher = server.DomainDispatcherApplication
server.DomainDispatcherApplication = lambda create_app: OneDynamoDbRequestAtATime(
    _dispatcher(create_app)
)
server.main()
