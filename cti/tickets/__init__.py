"""Tickets: client requests linked to calls, with a status workflow, an assignee (a person or
a group), a timeline, callbacks and notifications. See :mod:`cti.tickets.service`."""
