"""Commands from people to the PBX (click-to-dial…): the only place that sends AMI actions
on someone's behalf (see DESIGN.md)."""
