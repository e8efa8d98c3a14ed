"""The hospital portal (医院端): pages in the admin's look for users linked to a hospital (定点医疗机构用户).

Hospital users are not bureau staff: they log in at /hospital/login/ without ``is_staff`` and see only their own
hospital — every queryset here goes through ``enrollment.scoping.scope_queryset``, which scopes a user linked to a
hospital to that hospital's rows.
"""
