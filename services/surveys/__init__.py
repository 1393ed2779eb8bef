"""Surveys (问卷): editors define them (admin, definitions) with typed questions and skip logic (questions,
answer_formats); workers answer them (answering); documents, responses and drafts in store."""
