"""The insights blueprint: the coverage map, charts, fairness, where one more offer helps most,
and exports, for coordinators (their areas), admins (the country), employers and schools."""
