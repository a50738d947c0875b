"""Okta's rate-limit buckets as holdfast's limiter keys them (Workforce Identity defaults, per minute):
https://developer.okta.com/docs/reference/rl-global-mgmt/ . The response headers stay authoritative.
"""

LOGS = "logs"  # /api/v1/logs: 120
USERS_LIST = "users_list"  # GET /api/v1/users: 600
USERS_GET = "users_get"  # GET /api/v1/users/{id}: 2000
USERS_WRITE = "users_write"  # POST/PUT/DELETE /api/v1/users/{id} and its lifecycle operations: 600
GROUPS_LIST = "groups_list"  # /api/v1/groups (members too): 500
API_OTHER = "api_other"  # everything else under /api/v1 (sessions, factors): 1200
