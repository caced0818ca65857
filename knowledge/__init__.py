"""The city knowledge base (知识库): articles kept by the units, reviewed by the centre,
searched in Chinese, cited when an enquiry is answered directly (直接答复)."""
