"""The offline SageMaker emulator's parts, one module per job type; ``offline.sagemaker_emulator`` is the
façade that the engine and the tests use."""
