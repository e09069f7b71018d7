"""Joint approval (联合审批/会签), the materials catalogue (要件), registration readiness and zero-material
registration (registration.json), and statutory time limits in working days. Pure rules are in domain/joint.py,
domain/typed.py and domain/workdays.py; this package holds the commands and queries."""
