"""Pure enrolment rules: plain values in, plain values out, no ORM (ARCHITECTURE: "pure rule code").

- `intake`: plan year and coverage start of an enrolment (the August-31 rule, green channel, newborns).
- `subsidy`: contribution subsidy (资助参保) per rule, 就高 across identities, cost sharing between government levels.
"""
