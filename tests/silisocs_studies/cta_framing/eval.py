print("reach evaluator placeholder")
