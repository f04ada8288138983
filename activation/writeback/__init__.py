"""Write-back: vendor write clients that apply approved actions (budgets, winners, profiles, flows).

Every client writes absolute values (never deltas), reads the current value before writing
and after, and never decides *whether* to write: the policy and the action queue do that.
"""
