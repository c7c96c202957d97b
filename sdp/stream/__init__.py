"""`sdp stream`: run, watch and reconcile the streaming job from the control node."""
