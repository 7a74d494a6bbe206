"""The CDK app that deploys order-management to AWS: one module per stack or construct.

`app.py` reads the environment's configuration (`config.py`, from cdk.json context) and wires the
stacks (`deployment.py`): network, registry, data, compute (API service and loader jobs) and the
upload pipeline. Nothing here runs in the services; the services know nothing of CDK.
"""
