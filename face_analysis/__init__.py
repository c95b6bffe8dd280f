"""Face analysis shared by the trainings function (screening, dry run) and the training container
(screening, cropping, likeness): dlib's HOG face detector, its 5-point landmarks, alignment with the
eyes level, and its ResNet face embedding, with model files from the `face_recognition_models` package.

Importing this package loads nothing: dlib and the model files are loaded on first use (`models`), so
light importers (the CDK app, the contract) never pay for them. docs/faces.md lists every model file
and its licence, the thresholds and the reasons an image can be refused.
"""
