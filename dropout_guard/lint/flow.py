"""Placeholder: the project-wide flow analysis."""


class Project:
    def __init__(self, files, modules, knowledge):
        self.files, self.modules, self.knowledge = files, modules, knowledge

    def run(self):
        pass
